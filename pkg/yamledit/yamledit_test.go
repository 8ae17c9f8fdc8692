package yamledit

import (
	"errors"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// node parses a YAML snippet into the node a caller would pass to Set.
func node(t *testing.T, s string) *yaml.Node {
	t.Helper()
	var d yaml.Node
	if err := yaml.Unmarshal([]byte(s), &d); err != nil {
		t.Fatalf("bad test value %q: %v", s, err)
	}
	return d.Content[0]
}

func mustPath(t *testing.T, s string) Path {
	t.Helper()
	p, err := ParsePath(s)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

type setCase struct {
	name  string
	in    string
	doc   int
	path  string
	value *yaml.Node
	want  string
}

func runSet(t *testing.T, cases []setCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f, err := Parse([]byte(tc.in))
			if err != nil {
				t.Fatal(err)
			}
			if err := f.Set(tc.doc, mustPath(t, tc.path), tc.value); err != nil {
				t.Fatal(err)
			}
			if got := string(f.Bytes()); got != tc.want {
				t.Errorf("got:\n%s\nwant:\n%s", show(got), show(tc.want))
			}
		})
	}
}

// show makes line ends and a missing final newline visible in failures.
func show(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "\r", `\r`), "\n", "⏎\n") + "<EOF>"
}

const deployment = `# The shop's web frontend.
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web # keep this name
  labels:
    app: web

spec:
  replicas: 3  # scaled by hand in March
  selector:
    matchLabels:
      app: web
  template:
    spec:
      containers:
        - name: web
          image: "registry.example.com/web:1.0"
          ports:
            - containerPort: 8080
              name: http
          args: [--port, "8080"]
        - name: sidecar
          image: 'envoy:1.29'
`

func TestSetScalar(t *testing.T) {
	runSet(t, []setCase{
		{
			name:  "int stays unquoted and the comment stays",
			in:    deployment,
			path:  "spec.replicas",
			value: ScalarNode(5),
			want:  strings.Replace(deployment, "replicas: 3  # scaled", "replicas: 5  # scaled", 1),
		},
		{
			name:  "double-quoted string stays double-quoted",
			in:    deployment,
			path:  "spec.template.spec.containers[name=web].image",
			value: ScalarNode("registry.example.com/web:1.1"),
			want:  strings.Replace(deployment, `"registry.example.com/web:1.0"`, `"registry.example.com/web:1.1"`, 1),
		},
		{
			name:  "single-quoted string stays single-quoted",
			in:    deployment,
			path:  "spec.template.spec.containers[name=sidecar].image",
			value: ScalarNode("envoy:1.30"),
			want:  strings.Replace(deployment, `'envoy:1.29'`, `'envoy:1.30'`, 1),
		},
		{
			name:  "plain string with a trailing comment",
			in:    deployment,
			path:  "metadata.name",
			value: ScalarNode("shop"),
			want:  strings.Replace(deployment, "name: web # keep", "name: shop # keep", 1),
		},
		{
			name:  "plain string that would read as a bool is quoted",
			in:    "a: x\n",
			path:  "a",
			value: ScalarNode("true"),
			want:  "a: \"true\"\n",
		},
		{
			name:  "plain string that would read as a number is quoted",
			in:    "a: x\n",
			path:  "a",
			value: ScalarNode("5"),
			want:  "a: \"5\"\n",
		},
		{
			name:  "float-looking and empty strings are quoted",
			in:    "a: x\nb: y\n",
			path:  "a",
			value: ScalarNode("1.0"),
			want:  "a: \"1.0\"\nb: y\n",
		},
		{
			name:  "empty string is quoted",
			in:    "a: x\n",
			path:  "a",
			value: ScalarNode(""),
			want:  "a: \"\"\n",
		},
		{
			name:  "YAML 1.1 boolean letters are quoted",
			in:    "a: x\n",
			path:  "a",
			value: ScalarNode("y"),
			want:  "a: \"y\"\n",
		},
		{
			name:  "YAML 1.1 boolean words are quoted",
			in:    "a: x\n",
			path:  "a",
			value: ScalarNode("yes"),
			want:  "a: \"yes\"\n",
		},
		{
			name:  "quoted number string set to another string stays quoted",
			in:    "port: \"8080\"\n",
			path:  "port",
			value: ScalarNode("9090"),
			want:  "port: \"9090\"\n",
		},
		{
			name:  "quoted string set to an int loses its quotes",
			in:    "port: \"8080\"\n",
			path:  "port",
			value: ScalarNode(9090),
			want:  "port: 9090\n",
		},
		{
			name:  "4-space file",
			in:    "spec:\n    template:\n        image: a:1 # pinned\n    other: 1\n",
			path:  "spec.template.image",
			value: ScalarNode("a:2"),
			want:  "spec:\n    template:\n        image: a:2 # pinned\n    other: 1\n",
		},
		{
			name:  "key with dots",
			in:    "metadata:\n  labels:\n    app.kubernetes.io/name: web\n",
			path:  `metadata.labels["app.kubernetes.io/name"]`,
			value: ScalarNode("shop"),
			want:  "metadata:\n  labels:\n    app.kubernetes.io/name: shop\n",
		},
		{
			name:  "aligned values keep their spacing",
			in:    "a:     1\nbcd:   2\n",
			path:  "a",
			value: ScalarNode(10),
			want:  "a:     10\nbcd:   2\n",
		},
		{
			name:  "anchor on the value stays",
			in:    "a: &x 1\n",
			path:  "a",
			value: ScalarNode(2),
			want:  "a: &x 2\n",
		},
		{
			name:  "bool and null",
			in:    "a: true\nb: ~\n",
			path:  "b",
			value: ScalarNode(false),
			want:  "a: true\nb: false\n",
		},
		{
			name:  "empty value gets one",
			in:    "a:\nb: 1\n",
			path:  "a",
			value: ScalarNode("x"),
			want:  "a: x\nb: 1\n",
		},
		{
			name:  "empty value with a comment",
			in:    "a: # to fill\nb: 1\n",
			path:  "a",
			value: ScalarNode("x"),
			want:  "a: x # to fill\nb: 1\n",
		},
		{
			name:  "multi-line plain scalar",
			in:    "a: one\n  two\nb: 1\n",
			path:  "a",
			value: ScalarNode("three"),
			want:  "a: three\nb: 1\n",
		},
		{
			name:  "unchanged value leaves the bytes alone",
			in:    "a: 0x10  # hex\n",
			path:  "a",
			value: &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!int", Value: "0x10"},
			want:  "a: 0x10  # hex\n",
		},
		{
			name:  "explicit tag dropped when the type changes",
			in:    "a: !!str 5\n",
			path:  "a",
			value: ScalarNode(6),
			want:  "a: 6\n",
		},
		{
			name:  "string with special characters is double-quoted",
			in:    "a: x\n",
			path:  "a",
			value: ScalarNode("b: c # d"),
			want:  "a: \"b: c # d\"\n",
		},
	})
}

func TestSetBlockScalar(t *testing.T) {
	runSet(t, []setCase{
		{
			name:  "literal block replaced, header comment and indentation kept",
			in:    "data:\n  script: | # run at start\n      echo hi\n      exit 0\n  other: x\n",
			path:  "data.script",
			value: ScalarNode("echo bye\nexit 1\n"),
			want:  "data:\n  script: | # run at start\n      echo bye\n      exit 1\n  other: x\n",
		},
		{
			name:  "multi-line string becomes a literal block",
			in:    "data:\n  conf: short\n  other: x\n",
			path:  "data.conf",
			value: ScalarNode("a: 1\nb: 2\n"),
			want:  "data:\n  conf: |\n    a: 1\n    b: 2\n  other: x\n",
		},
		{
			name:  "literal without trailing newline",
			in:    "conf: x\n",
			path:  "conf",
			value: ScalarNode("a\nb"),
			want:  "conf: |-\n  a\n  b\n",
		},
		{
			name:  "block scalar set to a one-line string keeps block style",
			in:    "s: |\n  old\n  text\nt: 1\n",
			path:  "s",
			value: ScalarNode("new"),
			want:  "s: |-\n  new\nt: 1\n",
		},
		{
			name:  "folded scalar set to a one-line string stays folded",
			in:    "s: >\n  old\n  text\n",
			path:  "s",
			value: ScalarNode("new"),
			want:  "s: >-\n  new\n",
		},
		{
			name:  "block scalar set to a number",
			in:    "s: |\n  old\nt: 1\n",
			path:  "s",
			value: ScalarNode(3),
			want:  "s: 3\nt: 1\n",
		},
		{
			name:  "leading spaces need an indentation indicator",
			in:    "s: x\n",
			path:  "s",
			value: ScalarNode("  indented\nnot\n"),
			want:  "s: |2\n    indented\n  not\n",
		},
		{
			name:  "multi-line string in a flow mapping is double-quoted",
			in:    "m: {a: 1}\n",
			path:  "m.a",
			value: ScalarNode("x\ny"),
			want:  "m: {a: \"x\\ny\"}\n",
		},
	})
}

func TestSetInsert(t *testing.T) {
	runSet(t, []setCase{
		{
			name:  "new key at the end of its mapping",
			in:    deployment,
			path:  "metadata.labels.tier",
			value: ScalarNode("frontend"),
			want:  strings.Replace(deployment, "    app: web\n\nspec:", "    app: web\n    tier: frontend\n\nspec:", 1),
		},
		{
			name:  "new map path",
			in:    deployment,
			path:  "metadata.annotations.owner",
			value: ScalarNode("team-shop"),
			want:  strings.Replace(deployment, "    app: web\n\nspec:", "    app: web\n  annotations:\n    owner: team-shop\n\nspec:", 1),
		},
		{
			name:  "new key in a 4-space file",
			in:    "a:\n    b: 1\n",
			path:  "a.c.d",
			value: ScalarNode(2),
			want:  "a:\n    b: 1\n    c:\n        d: 2\n",
		},
		{
			name:  "new key after a block scalar",
			in:    "a:\n  s: |\n    text\n\nb: 1\n",
			path:  "a.t",
			value: ScalarNode(1),
			want:  "a:\n  s: |\n    text\n  t: 1\n\nb: 1\n",
		},
		{
			name:  "new key in a compact mapping inside a sequence",
			in:    "l:\n- name: a\n  x: 1\n- name: b\n",
			path:  "l[name=a].z",
			value: ScalarNode(2),
			want:  "l:\n- name: a\n  x: 1\n  z: 2\n- name: b\n",
		},
		{
			name:  "selector that matches nothing appends an item",
			in:    "env:\n  - name: A\n    value: \"1\"\n",
			path:  "env[name=B].value",
			value: ScalarNode("2"),
			want:  "env:\n  - name: A\n    value: \"1\"\n  - name: B\n    value: \"2\"\n",
		},
		{
			name:  "selector by port number creates an int",
			in:    "ports:\n- containerPort: 80\n",
			path:  "ports[containerPort=8080].name",
			value: ScalarNode("http"),
			want:  "ports:\n- containerPort: 80\n- containerPort: 8080\n  name: http\n",
		},
		{
			name:  "new mapping value",
			in:    "spec:\n  replicas: 1\n",
			path:  "spec.resources",
			value: node(t, "limits: {cpu: 100m}\nrequests:\n  memory: 1Gi\n"),
			want:  "spec:\n  replicas: 1\n  resources:\n    limits: {cpu: 100m}\n    requests:\n      memory: 1Gi\n",
		},
		{
			name:  "new sequence value follows the file's indentless style",
			in:    "a:\n  l:\n  - x\n",
			path:  "a.m",
			value: node(t, "- w\n- z\n"),
			want:  "a:\n  l:\n  - x\n  m:\n  - w\n  - z\n",
		},
		{
			name:  "null value becomes a mapping",
			in:    "metadata:\n  labels:\n  name: x\n",
			path:  "metadata.labels.app",
			value: ScalarNode("web"),
			want:  "metadata:\n  labels:\n    app: web\n  name: x\n",
		},
		{
			name:  "empty flow mapping in block context becomes block",
			in:    "metadata:\n  labels: {}\n  name: x\n",
			path:  "metadata.labels.app",
			value: ScalarNode("web"),
			want:  "metadata:\n  labels:\n    app: web\n  name: x\n",
		},
		{
			name:  "index equal to the length appends",
			in:    "l:\n  - a\n",
			path:  "l[1]",
			value: ScalarNode("b"),
			want:  "l:\n  - a\n  - b\n",
		},
		{
			name:  "new key goes below the comments that belong to the entry before",
			in:    "a:\n  b:\n    c: 1\n    # about c\nz: 1\n",
			path:  "a.d",
			value: ScalarNode("x\ny\n"),
			want:  "a:\n  b:\n    c: 1\n    # about c\n  d: |\n    x\n    y\nz: 1\n",
		},
		{
			name:  "new key in a root mapping",
			in:    "a: 1\n",
			path:  "b",
			value: ScalarNode(2),
			want:  "a: 1\nb: 2\n",
		},
		{
			name:  "new key goes below the commented-out items that end an indentless list",
			in:    "resources:\n- a.yaml\n#- b.yaml\n# - c.yaml\n",
			path:  "patches",
			value: node(t, "- path: x.yaml\n"),
			want:  "resources:\n- a.yaml\n#- b.yaml\n# - c.yaml\npatches:\n- path: x.yaml\n",
		},
		{
			name:  "new key stays above a commented-out key of its own column",
			in:    "resources:\n- a.yaml\n# patches:\n# - path: y.yaml\n",
			path:  "images",
			value: node(t, "- name: x\n"),
			want:  "resources:\n- a.yaml\nimages:\n- name: x\n# patches:\n# - path: y.yaml\n",
		},
		{
			name:  "new item goes above the commented-out items that end its list",
			in:    "resources:\n  - a.yaml\n  # - b.yaml\n\n# images:\n#   - name: x\n",
			path:  "resources[1]",
			value: ScalarNode("c.yaml"),
			want:  "resources:\n  - a.yaml\n  - c.yaml\n  # - b.yaml\n\n# images:\n#   - name: x\n",
		},
		{
			name:  "new key in a mapping whose entries are separated by blank lines gets one",
			in:    "kind: Kustomization\n\nnamespace: x\n\nresources:\n  - a.yaml\n  # - b.yaml\n\n# images:\n#   - name: x\n",
			path:  "patches",
			value: node(t, "- path: p.yaml\n"),
			want:  "kind: Kustomization\n\nnamespace: x\n\nresources:\n  - a.yaml\n  # - b.yaml\n\npatches:\n  - path: p.yaml\n\n# images:\n#   - name: x\n",
		},
		{
			name:  "new key in a mapping mostly without blank lines gets none",
			in:    "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n\ndata:\n  a: b\n",
			path:  "binaryData",
			value: node(t, "c: ZA==\n"),
			want:  "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n\ndata:\n  a: b\nbinaryData:\n  c: ZA==\n",
		},
	})
}

func TestSetFlow(t *testing.T) {
	runSet(t, []setCase{
		{
			name:  "flow sequence item",
			in:    "args: [--port, \"8080\", -v]\n",
			path:  "args[1]",
			value: ScalarNode("9090"),
			want:  "args: [--port, \"9090\", -v]\n",
		},
		{
			name:  "flow sequence append",
			in:    "args: [a, b]  # args\n",
			path:  "args[2]",
			value: ScalarNode("c d"),
			want:  "args: [a, b, c d]  # args\n",
		},
		{
			name:  "flow sequence append of a string needing quotes",
			in:    "args: [a]\n",
			path:  "args[1]",
			value: ScalarNode("x, y"),
			want:  "args: [a, \"x, y\"]\n",
		},
		{
			name:  "flow mapping value",
			in:    "limits: {cpu: 100m, memory: 1Gi}\n",
			path:  "limits.cpu",
			value: ScalarNode("200m"),
			want:  "limits: {cpu: 200m, memory: 1Gi}\n",
		},
		{
			name:  "flow mapping new key",
			in:    "limits: {cpu: 100m}\n",
			path:  "limits.memory",
			value: ScalarNode("1Gi"),
			want:  "limits: {cpu: 100m, memory: 1Gi}\n",
		},
		{
			name:  "flow mapping ending in an empty value",
			in:    "m: {a: }\n",
			path:  "m.b",
			value: ScalarNode(1),
			want:  "m: {a: , b: 1}\n",
		},
		{
			name:  "empty value in a flow mapping",
			in:    "m: {a: , b: 1}\n",
			path:  "m.a",
			value: ScalarNode("x"),
			want:  "m: {a: x, b: 1}\n",
		},
		{
			name:  "empty flow mapping inside flow",
			in:    "a: [{}]\n",
			path:  "a[0].k",
			value: ScalarNode("v"),
			want:  "a: [{k: v}]\n",
		},
		{
			name:  "sequence replaced in flow style keeps flow style",
			in:    "args: [a, b] # c\n",
			path:  "args",
			value: node(t, "[a, x, z]"),
			want:  "args: [a, x, z] # c\n",
		},
		{
			name:  "multi-line flow mapping",
			in:    "m: {\n  a: 1,\n  b: 2\n}\n",
			path:  "m.c",
			value: ScalarNode(3),
			want:  "m: {\n  a: 1,\n  b: 2, c: 3\n}\n",
		},
	})
}

func TestSetSubtree(t *testing.T) {
	runSet(t, []setCase{
		{
			name:  "mapping merged key by key keeps comments",
			in:    "res:\n  # limits first\n  limits:\n    cpu: 1 # one core\n    memory: 1Gi\n  requests: {cpu: 1}\n",
			path:  "res",
			value: node(t, "limits:\n  cpu: 1\n  memory: 2Gi\nrequests: {cpu: 2}\n"),
			want:  "res:\n  # limits first\n  limits:\n    cpu: 1 # one core\n    memory: 2Gi\n  requests: {cpu: 2}\n",
		},
		{
			name:  "keys missing from the new mapping are removed",
			in:    "m:\n  a: 1\n  b: 2\n  c: 3\n",
			path:  "m",
			value: node(t, "a: 1\nc: 4\nd: 5\n"),
			want:  "m:\n  a: 1\n  c: 4\n  d: 5\n",
		},
		{
			name:  "scalar replaced by a mapping",
			in:    "a: x # note\nb: 1\n",
			path:  "a",
			value: node(t, "k: v\n"),
			want:  "a: # note\n  k: v\nb: 1\n",
		},
		{
			name:  "mapping replaced by a scalar",
			in:    "a:\n  k: v\n  l: w\nb: 1\n",
			path:  "a",
			value: ScalarNode("x"),
			want:  "a: x\nb: 1\n",
		},
		{
			name:  "sequence item removed from the middle",
			in:    "l:\n- a # first\n- b\n- c\n",
			path:  "l",
			value: node(t, "[a, c]"),
			want:  "l:\n- a # first\n- c\n",
		},
		{
			name:  "item selected and replaced",
			in:    "c:\n- name: web\n  image: a\n  tty: true\n",
			path:  "c[name=web]",
			value: node(t, "image: b\ntty: true\n"),
			want:  "c:\n- name: web\n  image: b\n  tty: true\n",
		},
		{
			name:  "sequence item replaced by a mapping is compact",
			in:    "l:\n  - a\n  - b\n",
			path:  "l[1]",
			value: node(t, "k: v\nw: x\n"),
			want:  "l:\n  - a\n  - k: v\n    w: x\n",
		},
	})
}

func TestMultiDocument(t *testing.T) {
	in := "# generated by hand\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n---\n# the service\napiVersion: v1\nkind: Service\nmetadata:\n  name: b\nspec:\n  ports:\n  - port: 80\n...\n---\nkind: Secret # last\n"
	runSet(t, []setCase{
		{
			name:  "edit the middle document",
			in:    in,
			doc:   1,
			path:  "spec.ports[0].port",
			value: ScalarNode(8080),
			want:  strings.Replace(in, "port: 80\n", "port: 8080\n", 1),
		},
		{
			name:  "insert in the middle document",
			in:    in,
			doc:   1,
			path:  "metadata.namespace",
			value: ScalarNode("shop"),
			want:  strings.Replace(in, "name: b\n", "name: b\n  namespace: shop\n", 1),
		},
		{
			name:  "insert in the last document",
			in:    in,
			doc:   2,
			path:  "metadata.name",
			value: ScalarNode("s"),
			want:  in + "metadata:\n  name: s\n",
		},
	})
	f, err := Parse([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	if f.NumDocs() != 3 {
		t.Fatalf("NumDocs = %d", f.NumDocs())
	}
	if n, ok := f.Get(1, mustPath(t, "metadata.name")); !ok || n.Value != "b" {
		t.Fatalf("Get = %v %v", n, ok)
	}
	if f.Doc(2).Kind != yaml.MappingNode {
		t.Fatal("Doc(2) is not a mapping")
	}
}

func TestNoFinalNewlineAndCRLF(t *testing.T) {
	runSet(t, []setCase{
		{
			name:  "no final newline, scalar",
			in:    "a: 1\nb: 2",
			path:  "b",
			value: ScalarNode(3),
			want:  "a: 1\nb: 3",
		},
		{
			name:  "no final newline, new key",
			in:    "a: 1\nb: 2",
			path:  "c",
			value: ScalarNode(3),
			want:  "a: 1\nb: 2\nc: 3",
		},
		{
			name:  "no final newline, multi-line string at the end is quoted",
			in:    "a: 1",
			path:  "a",
			value: ScalarNode("x\ny\n"),
			want:  "a: \"x\\ny\\n\"",
		},
		{
			name:  "CRLF scalar",
			in:    "a: 1\r\nb: 2\r\n",
			path:  "a",
			value: ScalarNode(5),
			want:  "a: 5\r\nb: 2\r\n",
		},
		{
			name:  "CRLF new lines",
			in:    "a:\r\n  b: 1\r\nc: 2\r\n",
			path:  "a.d.e",
			value: ScalarNode("x"),
			want:  "a:\r\n  b: 1\r\n  d:\r\n    e: x\r\nc: 2\r\n",
		},
		{
			name:  "CRLF literal block",
			in:    "a: x\r\n",
			path:  "a",
			value: ScalarNode("1\n2\n"),
			want:  "a: |\r\n  1\r\n  2\r\n",
		},
	})
}

type deleteCase struct {
	name string
	in   string
	doc  int
	path string
	want string
}

func TestDelete(t *testing.T) {
	cases := []deleteCase{
		{
			name: "key with comments around and blank lines kept",
			in:   "a: 1\n\n# about b\nb: 2 # two\n# after b\n\nc: 3\n",
			path: "b",
			want: "a: 1\n\n# about b\n# after b\n\nc: 3\n",
		},
		{
			name: "key with a nested value and its deeper comments",
			in:   "a:\n  x: 1\n  # y: 2\nb: 1\n",
			path: "a",
			want: "b: 1\n",
		},
		{
			name: "block sequence item",
			in:   "l:\n  - a\n  - b # bee\n  - c\n",
			path: "l[1]",
			want: "l:\n  - a\n  - c\n",
		},
		{
			name: "sequence item by selector",
			in:   "env:\n- name: A\n  value: x\n- name: B\n  value: y\n",
			path: "env[name=A]",
			want: "env:\n- name: B\n  value: y\n",
		},
		{
			name: "last key of a block mapping leaves {}",
			in:   "metadata:\n  labels:\n    app: web\n  name: x\n",
			path: "metadata.labels.app",
			want: "metadata:\n  labels: {}\n  name: x\n",
		},
		{
			name: "last item of a block sequence leaves []",
			in:   "l:\n- a\nm: 1\n",
			path: "l[0]",
			want: "l: []\nm: 1\n",
		},
		{
			name: "first key of a compact mapping in a sequence",
			in:   "l:\n- name: a\n  x: 1\n",
			path: "l[0].name",
			want: "l:\n- x: 1\n",
		},
		{
			name: "flow mapping key",
			in:   "m: {a: 1, b: 2, c: 3}\n",
			path: "m.b",
			want: "m: {a: 1, c: 3}\n",
		},
		{
			name: "last flow mapping key",
			in:   "m: {a: 1, b: 2}\n",
			path: "m.b",
			want: "m: {a: 1}\n",
		},
		{
			name: "flow mapping key after an empty value",
			in:   "m: {a: , b: 1}\n",
			path: "m.b",
			want: "m: {a: }\n",
		},
		{
			name: "entry after a keep-chomped block scalar takes its blank line along",
			in:   "a: |+\n  x\n\nb: 1\n\nc: 2\n",
			path: "b",
			want: "a: |+\n  x\n\nc: 2\n",
		},
		{
			name: "flow sequence item",
			in:   "l: [a, b]\n",
			path: "l[0]",
			want: "l: [b]\n",
		},
		{
			name: "only flow item",
			in:   "l: [a]\n",
			path: "l[0]",
			want: "l: []\n",
		},
		{
			name: "last line without final newline",
			in:   "a: 1\nb: 2",
			path: "b",
			want: "a: 1",
		},
		{
			name: "CRLF",
			in:   "a: 1\r\nb: 2\r\nc: 3\r\n",
			path: "b",
			want: "a: 1\r\nc: 3\r\n",
		},
		{
			name: "block scalar value",
			in:   "a: |\n  x\n  y\nb: 1\n",
			path: "a",
			want: "b: 1\n",
		},
		{
			name: "in the second document",
			in:   "a: 1\n---\nb: 1\nc: 2\n---\nd: 1\n",
			doc:  1,
			path: "b",
			want: "a: 1\n---\nc: 2\n---\nd: 1\n",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f, err := Parse([]byte(tc.in))
			if err != nil {
				t.Fatal(err)
			}
			if err := f.Delete(tc.doc, mustPath(t, tc.path)); err != nil {
				t.Fatal(err)
			}
			if got := string(f.Bytes()); got != tc.want {
				t.Errorf("got:\n%s\nwant:\n%s", show(got), show(tc.want))
			}
		})
	}
}

func TestDeleteMissing(t *testing.T) {
	f, err := Parse([]byte("a: 1\n"))
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Delete(0, mustPath(t, "b")); !errors.Is(err, ErrNotFound) {
		t.Fatalf("err = %v, want ErrNotFound", err)
	}
	if err := f.Set(3, mustPath(t, "b"), ScalarNode(1)); !errors.Is(err, ErrNotFound) {
		t.Fatalf("err = %v, want ErrNotFound", err)
	}
}

func TestAliases(t *testing.T) {
	in := "base: &base\n  cpu: 1\n  mem: 2\nsmall: *base\nbig:\n  <<: *base\n  cpu: 4\nlone: &lone 5\n"
	for _, tc := range []struct {
		path string
		opts []Option
		want string // error text; "" for success
	}{
		{path: "base.cpu", want: "value is shared through anchor &base (line 1) used by 2 aliases; edit the anchor's users explicitly"},
		{path: "small.cpu", want: "alias *base at line 4"},
		{path: "big.mem.x", want: "merge"},
		{path: "lone", want: ""},
		{path: "base.cpu", opts: []Option{AllowAnchor}, want: ""},
		{path: "small.cpu", opts: []Option{AllowAnchor}, want: "alias *base"},
	} {
		f, err := Parse([]byte(in))
		if err != nil {
			t.Fatal(err)
		}
		err = f.Set(0, mustPath(t, tc.path), ScalarNode(9), tc.opts...)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("Set %s: %v", tc.path, err)
		case tc.want != "" && (!errors.Is(err, ErrAliased) || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("Set %s: err = %v, want ErrAliased with %q", tc.path, err, tc.want)
		}
	}
	f, _ := Parse([]byte(in))
	if err := f.Delete(0, mustPath(t, "base")); !errors.Is(err, ErrAliased) {
		t.Errorf("deleting an anchor in use: err = %v", err)
	}
	if err := f.Set(0, mustPath(t, "big.cpu"), ScalarNode(8)); err != nil {
		t.Errorf("a key beside a merge: %v", err)
	}
	if err := f.Set(0, mustPath(t, "big.mem"), ScalarNode(8)); err != nil {
		t.Errorf("overriding a merged key: %v", err)
	}
	want := "base: &base\n  cpu: 1\n  mem: 2\nsmall: *base\nbig:\n  <<: *base\n  cpu: 8\n  mem: 8\nlone: &lone 5\n"
	if got := string(f.Bytes()); got != want {
		t.Errorf("got:\n%s\nwant:\n%s", show(got), show(want))
	}
}

func TestDocuments(t *testing.T) {
	svc := node(t, "apiVersion: v1\nkind: Service\nspec:\n  ports:\n  - port: 80\n")
	for _, tc := range []struct {
		name string
		in   string
		op   func(*File) error
		want string
	}{
		{
			name: "append after a file with a final newline",
			in:   "a: 1\n",
			op:   func(f *File) error { return f.AppendDoc(svc) },
			want: "a: 1\n---\napiVersion: v1\nkind: Service\nspec:\n  ports:\n    - port: 80\n",
		},
		{
			name: "append in a 4-space file without final newline",
			in:   "a:\n    b:\n        - 1",
			op:   func(f *File) error { return f.AppendDoc(svc) },
			want: "a:\n    b:\n        - 1\n---\napiVersion: v1\nkind: Service\nspec:\n    ports:\n        - port: 80",
		},
		{
			name: "append to an empty file",
			in:   "",
			op:   func(f *File) error { return f.AppendDoc(node(t, "a: 1")) },
			want: "a: 1\n",
		},
		{
			name: "delete the first document and the next separator",
			in:   "# header\na: 1\n---\nb: 2\n---\nc: 3\n",
			op:   func(f *File) error { return f.DeleteDoc(0) },
			want: "# header\nb: 2\n---\nc: 3\n",
		},
		{
			name: "delete a middle document",
			in:   "---\na: 1\n---\n# b\nb: 2\n...\n---\nc: 3\n",
			op:   func(f *File) error { return f.DeleteDoc(1) },
			want: "---\na: 1\n---\nc: 3\n",
		},
		{
			name: "delete the last document without final newline",
			in:   "a: 1\n---\nb: 2",
			op:   func(f *File) error { return f.DeleteDoc(1) },
			want: "a: 1",
		},
		{
			name: "delete the only document",
			in:   "# keep\na: 1\n",
			op:   func(f *File) error { return f.DeleteDoc(0) },
			want: "# keep\n",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, err := Parse([]byte(tc.in))
			if err != nil {
				t.Fatal(err)
			}
			if err := tc.op(f); err != nil {
				t.Fatal(err)
			}
			if got := string(f.Bytes()); got != tc.want {
				t.Errorf("got:\n%s\nwant:\n%s", show(got), show(tc.want))
			}
		})
	}
}

func TestParse(t *testing.T) {
	if _, err := Parse([]byte("a: 1\nb: [\n")); err == nil || !strings.Contains(err.Error(), "line") {
		t.Errorf("err = %v, want a line number", err)
	}
	for in, want := range map[string]int{"": 2, "a:\n    b: 1\n": 4, "a:\n b: 1\n": 1, "a:\n  - b\n": 2} {
		f, err := Parse([]byte(in))
		if err != nil {
			t.Fatal(err)
		}
		if f.Indent() != want {
			t.Errorf("Indent(%q) = %d, want %d", in, f.Indent(), want)
		}
	}
}

func TestParsePath(t *testing.T) {
	for in, want := range map[string]Path{
		"spec.template.spec.containers[name=web].image": {Key("spec"), Key("template"), Key("spec"), Key("containers"), Match("name", "web"), Key("image")},
		`metadata.labels["app.kubernetes.io/name"]`:     {Key("metadata"), Key("labels"), Key("app.kubernetes.io/name")},
		"spec.ports[0].port":                            {Key("spec"), Key("ports"), Index(0), Key("port")},
		`.a['it''s'][b="x]y"]`:                          {Key("a"), Key("it's"), Match("b", "x]y")},
		"":                                              {},
	} {
		got, err := ParsePath(in)
		if err != nil {
			t.Errorf("ParsePath(%q): %v", in, err)
			continue
		}
		if len(got) != len(want) {
			t.Errorf("ParsePath(%q) = %v", in, got)
			continue
		}
		for i := range got {
			if got[i] != want[i] {
				t.Errorf("ParsePath(%q)[%d] = %+v, want %+v", in, i, got[i], want[i])
			}
		}
		back, err := ParsePath(got.String())
		if err != nil || back.String() != got.String() {
			t.Errorf("round trip of %q: %q, %v", in, got.String(), err)
		}
	}
	for _, bad := range []string{"a.", "a..b", "a[", "a[x", "a[-1]", "a]", `a["x`} {
		if _, err := ParsePath(bad); err == nil {
			t.Errorf("ParsePath(%q) succeeded", bad)
		}
	}
}

func TestScalarNode(t *testing.T) {
	for _, tc := range []struct {
		v         any
		tag, text string
	}{
		{"x", "!!str", "x"}, {3, "!!int", "3"}, {uint8(7), "!!int", "7"}, {true, "!!bool", "true"},
		{1.5, "!!float", "1.5"}, {5.0, "!!float", "5.0"}, {nil, "!!null", "null"},
	} {
		n := ScalarNode(tc.v)
		if n.Tag != tc.tag || n.Value != tc.text {
			t.Errorf("ScalarNode(%v) = %s %q", tc.v, n.Tag, n.Value)
		}
	}
}
