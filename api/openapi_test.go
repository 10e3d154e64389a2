package api

import (
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// The document and the mux describe the same set of operations.
func TestOpenAPIMatchesRoutes(t *testing.T) {
	t.Parallel()
	doc := loadSpec(t)
	var inDoc []string
	for path, item := range doc.Paths.Map() {
		for method := range item.Operations() {
			inDoc = append(inDoc, method+" "+path)
		}
	}
	e := newEnv(t)
	var routed []string
	for _, rt := range e.srv.table {
		routed = append(routed, rt.pattern)
	}
	slices.Sort(inDoc)
	slices.Sort(routed)
	require.Equal(t, routed, inDoc, "routes() and openapi.json must list the same operations")

	// Public routes, and only they, declare no security.
	for _, rt := range e.srv.table {
		method, path, _ := strings.Cut(rt.pattern, " ")
		op := doc.Paths.Value(path).GetOperation(method)
		noSecurity := op.Security != nil && len(*op.Security) == 0
		require.Equal(t, rt.access == public, noSecurity, "security of %s", rt.pattern)
	}
}

func TestOpenAPIServed(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	res := e.do("GET", "/api/v1/openapi.json", "", nil)
	require.Equal(t, http.StatusOK, res.status)
	require.JSONEq(t, string(openAPIDoc), string(res.body))
}
