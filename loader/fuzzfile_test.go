package loader

import (
	"errors"
	"strconv"
	"strings"
)

// parseFuzzBytes decodes the one []byte("...") value of a corpus file.
func parseFuzzBytes(s string) ([]byte, error) {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) != 2 || lines[0] != "go test fuzz v1" {
		return nil, errors.New("not a go test fuzz v1 file with one value")
	}
	v := strings.TrimSpace(lines[1])
	if !strings.HasPrefix(v, "[]byte(") || !strings.HasSuffix(v, ")") {
		return nil, errors.New("not a []byte value")
	}
	str, err := strconv.Unquote(v[len("[]byte(") : len(v)-1])
	if err != nil {
		return nil, err
	}
	return []byte(str), nil
}
