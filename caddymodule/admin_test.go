package caddymodule

import (
	"errors"
	"net/http"
	"testing"

	"github.com/caddy-gradual/gradual/internal/api"
)

func statusOf(err error) int {
	var ae *api.Error
	if errors.As(err, &ae) {
		return ae.Status
	}
	return 0
}

func TestRollbackTarget(t *testing.T) {
	d := func(entries ...DeployEntry) *deploymentRecord { return &deploymentRecord{Versions: entries} }
	tests := []struct {
		name    string
		history []*deploymentRecord
		want    string
	}{
		{"back to stable", []*deploymentRecord{d(DeployEntry{"a", 100}), d(DeployEntry{"a", 90}, DeployEntry{"b", 10})}, "a"},
		{"skip the current full version", []*deploymentRecord{d(DeployEntry{"a", 100}), d(DeployEntry{"b", 100})}, "a"},
		{"newest earlier", []*deploymentRecord{d(DeployEntry{"a", 100}), d(DeployEntry{"b", 100}), d(DeployEntry{"b", 50}, DeployEntry{"c", 50})}, "b"},
		{"same version again", []*deploymentRecord{d(DeployEntry{"a", 100}), d(DeployEntry{"b", 100}), d(DeployEntry{"b", 100})}, "a"},
		{"nothing earlier", []*deploymentRecord{d(DeployEntry{"a", 100})}, ""},
		{"empty", nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := rollbackTarget(tt.history)
			if got != tt.want || (tt.want == "") != (err != nil) {
				t.Fatalf("got %q, %v; want %q", got, err, tt.want)
			}
			if err != nil && statusOf(err) != http.StatusConflict {
				t.Fatalf("error status %d, want 409", statusOf(err))
			}
		})
	}
}
