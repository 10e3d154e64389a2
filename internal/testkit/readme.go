package testkit

import (
	"os"
	"strings"
	"testing"
)

// JSONBlocks returns the ```json blocks of a Markdown file (a package's README), in order,
// for tests that keep its examples true.
func JSONBlocks(t testing.TB, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var blocks []string
	for i, part := range strings.Split(string(b), "```json\n") {
		if i > 0 {
			end := strings.Index(part, "```")
			if end < 0 {
				t.Fatalf("%s: a json block is not closed", path)
			}
			blocks = append(blocks, part[:end])
		}
	}
	return blocks
}
