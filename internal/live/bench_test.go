package live

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/certmagic"
)

// BenchmarkPoll reads the live state once per iteration, with 20 uploads
// stored of 1 KB and of 9 MB each: scripts are stored apart from the state,
// so both cost about the same (issue 8 asks for a ratio of at most 1.5).
func BenchmarkPoll(b *testing.B) {
	for _, size := range []struct {
		name  string
		bytes int
	}{{"20x1KB", 1 << 10}, {"20x9MB", 9 << 20}} {
		b.Run(size.name, func(b *testing.B) {
			ctx := context.Background()
			storage := &certmagic.FileStorage{Path: b.TempDir()}
			a := newApplier("v1")
			w := NewWorker("shop", "node-a", nil)
			defer w.Close()
			detach, err := w.Attach(ctx, a, storage, time.Hour)
			if err != nil {
				b.Fatal(err)
			}
			defer detach()
			for i := range MaxUploads {
				script := strings.Repeat(string(rune('a'+i)), size.bytes)
				u := NewUpload(Upload{Script: script}, now())
				if _, err := w.Update(ctx, func(st *State) (bool, error) { _, err := st.AddUpload(u); return true, err }); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportAllocs()
			for b.Loop() {
				w.Poll(ctx)
			}
		})
	}
}
