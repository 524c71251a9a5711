package caddymodule

import (
	"errors"
	"net/http"
	"testing"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

// TestLogTargetFollowsNewestConfig checks that a logger made by a
// logTarget writes, with its fields and name, to whichever core the target
// holds when it writes.
func TestLogTargetFollowsNewestConfig(t *testing.T) {
	first, firstLogs := observer.New(zapcore.InfoLevel)
	second, secondLogs := observer.New(zapcore.DebugLevel)
	target := newLogTarget(first)
	logger := target.logger(zap.New(first).Named("gradual")).With(zap.String("worker", "shop"))

	logger.Info("one")
	logger.Debug("filtered by the first core")
	target.set(second)
	logger.Debug("two")

	if got := firstLogs.All(); len(got) != 1 || got[0].Message != "one" || got[0].ContextMap()["worker"] != "shop" || got[0].LoggerName != "gradual" {
		t.Errorf("first core got %+v", got)
	}
	if got := secondLogs.All(); len(got) != 1 || got[0].Message != "two" || got[0].ContextMap()["worker"] != "shop" {
		t.Errorf("second core got %+v", got)
	}
}

func TestResponseStatus(t *testing.T) {
	for _, tc := range []struct {
		written int
		err     error
		want    int
	}{
		{0, nil, 200},
		{204, nil, 204},
		{0, caddyhttp.Error(http.StatusBadGateway, errors.New("dial")), 502},
		{201, caddyhttp.Error(http.StatusBadGateway, errors.New("late")), 201},
		{0, errors.New("plain"), 500},
	} {
		if got := responseStatus(tc.written, tc.err); got != tc.want {
			t.Errorf("responseStatus(%d, %v) = %d, want %d", tc.written, tc.err, got, tc.want)
		}
	}
}
