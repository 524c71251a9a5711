package splitter

import "fmt"

// maxIDLen is the longest version ID; 64 leaves room for a UUID with a
// suffix while keeping IDs short enough for headers, metric labels and logs.
const maxIDLen = 64

// ValidateID reports whether id is a valid version ID: 1 to 64 ASCII letters,
// digits, '.', '_' or '-'. UUIDs are recommended.
func ValidateID(id string) error {
	switch {
	case id == "":
		return fmt.Errorf("invalid version ID %q: empty", id)
	case len(id) > maxIDLen:
		return fmt.Errorf("invalid version ID %q: longer than %d characters", id, maxIDLen)
	}
	for _, c := range []byte(id) {
		if !isIDByte(c) {
			return fmt.Errorf("invalid version ID %q: only letters, digits, '.', '_' and '-' are allowed", id)
		}
	}
	return nil
}

func isIDByte(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
		c == '.' || c == '_' || c == '-'
}
