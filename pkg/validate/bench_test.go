package validate_test

import (
	"context"
	"testing"

	"github.com/kubectl-gitops/kubectl-gitops/pkg/validate"
)

// BenchmarkObjects validates the valid objects of the unit tests offline, the document already
// parsed.
func BenchmarkObjects(b *testing.B) {
	objs := parseAll(b, inNamespace(validObjects, "shop"))
	ctx := context.Background()
	for b.Loop() {
		if _, err := validate.Objects(ctx, objs, validate.Options{}); err != nil {
			b.Fatal(err)
		}
	}
}
