package validate

import (
	"context"
	"encoding/json"
	"sort"
	"strings"
	"testing"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/kube-openapi/pkg/validation/spec"

	"github.com/kubectl-gitops/kubectl-gitops/internal/testcluster"
)

// Every field the offline check requires of a built-in kind is one the API server's own OpenAPI
// document requires (where it still has the definition), and every field relaxed says is no
// longer required is indeed optional there: the built-in document, older than the API server,
// refuses nothing for a missing field that the API server's document says is optional.
func TestE2ERequiredFieldsAgreeWithTheAPIServer(t *testing.T) {
	c := testcluster.Shared(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	kube, err := kubernetes.NewForConfig(c.RESTConfig())
	if err != nil {
		t.Fatal(err)
	}
	raw, err := kube.Discovery().RESTClient().Get().AbsPath("/openapi/v2").SetHeader("Accept", "application/json").Do(ctx).Raw()
	if err != nil {
		t.Fatal(err)
	}
	var server struct {
		Definitions map[string]struct {
			Required []string `json:"required"`
		} `json:"definitions"`
	}
	if err := json.Unmarshal(raw, &server); err != nil {
		t.Fatal(err)
	}
	doc, err := loadBuiltin()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for name := range checkedDefinitions(doc) {
		names = append(names, name)
	}
	sort.Strings(names)
	compared := 0
	for _, name := range names {
		sd, ok := server.Definitions[name]
		if !ok {
			continue
		}
		required := map[string]bool{}
		for _, r := range sd.Required {
			required[r] = true
		}
		d, _ := doc.def(name)
		for _, r := range d.Required {
			switch {
			case relaxed[name+"."+r] && required[r]:
				t.Errorf("%s.%s is relaxed but the API server requires it", name, r)
			case !relaxed[name+"."+r] && !required[r]:
				t.Errorf("%s.%s is required offline but not by the API server", name, r)
			case !relaxed[name+"."+r]:
				compared++
			}
		}
	}
	if compared < 250 {
		t.Errorf("only %d required fields compared", compared)
	}
}

// checkedDefinitions are the definitions the offline check walks: those reached from a kind's
// definition through properties, items and map values, but not through a kind's status.
func checkedDefinitions(doc *builtinDoc) map[string]bool {
	seen := map[string]bool{}
	var visit func(s spec.Schema, kind bool)
	visitRef := func(s spec.Schema) {
		name := strings.TrimPrefix(s.Ref.String(), "#/definitions/")
		if name == "" || seen[name] {
			return
		}
		seen[name] = true
		d, _ := doc.def(name)
		visit(d, doc.kindDefs[name])
	}
	visit = func(s spec.Schema, kind bool) {
		visitRef(s)
		for k, p := range s.Properties {
			if !(kind && k == "status") {
				visit(p, false)
			}
		}
		if s.Items != nil && s.Items.Schema != nil {
			visit(*s.Items.Schema, false)
		}
		if s.AdditionalProperties != nil && s.AdditionalProperties.Schema != nil {
			visit(*s.AdditionalProperties.Schema, false)
		}
	}
	for _, name := range doc.kinds {
		if !seen[name] {
			seen[name] = true
			d, _ := doc.def(name)
			visit(d, true)
		}
	}
	return seen
}
