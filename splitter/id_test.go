package splitter

import (
	"strings"
	"testing"
)

func TestValidateID(t *testing.T) {
	valid := []string{
		"v1",
		"1f0e3c7a-v1",
		"9b2d44e1-7c3f-4a55-b5a9-0e1f2d3c4b5a",
		"a",
		"A.b_c-D",
		"...",
		strings.Repeat("x", 64),
	}
	for _, id := range valid {
		t.Run(id, func(t *testing.T) {
			if err := ValidateID(id); err != nil {
				t.Errorf("ValidateID(%q): %v", id, err)
			}
		})
	}

	invalid := []struct {
		id      string
		wantErr string
	}{
		{"", `invalid version ID "": empty`},
		{strings.Repeat("x", 65), "longer than 64 characters"},
		{"v 1", `invalid version ID "v 1": only letters, digits, '.', '_' and '-' are allowed`},
		{"v1@10%", "only letters"},
		{"v/1", "only letters"},
		{"v1\n", "only letters"},
		{"vé", "only letters"},
		{`v"1`, "only letters"},
		{"v1,v2", "only letters"},
	}
	for _, tc := range invalid {
		t.Run(tc.id, func(t *testing.T) {
			err := ValidateID(tc.id)
			if err == nil {
				t.Fatalf("ValidateID(%q) = nil, want error", tc.id)
			}
			if !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("ValidateID(%q) error %q, want it to contain %q", tc.id, err, tc.wantErr)
			}
		})
	}
}
