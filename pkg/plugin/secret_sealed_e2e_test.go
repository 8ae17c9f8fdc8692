package plugin

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	utilrand "k8s.io/apimachinery/pkg/util/rand"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/yaml"

	"github.com/kubectl-gitops/kubectl-gitops/internal/testcluster"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/render"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/secrets/sealed"
)

// sealedUnsealTimeout bounds the wait for the controller to act on an applied SealedSecret.
const sealedUnsealTimeout = 45 * time.Second

// sealedApply renders the target as the reconciler would and applies the SealedSecret NAME of
// the render to the cluster, server-side.
func sealedApply(t *testing.T, c *testcluster.Cluster, dir, name string) {
	t.Helper()
	r, err := render.Render(dir, "apps/staging", render.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range r.Objects {
		if o.ID.Kind == "SealedSecret" && o.ID.Name == name {
			doc, err := yaml.Marshal(o.Obj().Object)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := c.ApplyYAML(t.Context(), "kustomize-controller", doc); err != nil {
				t.Fatal(err)
			}
			return
		}
	}
	t.Fatalf("the target renders no SealedSecret %s", name)
}

// sealedWaitForData waits until the controller's Secret holds exactly want.
func sealedWaitForData(t *testing.T, c *testcluster.Cluster, ns, name string, want map[string]string) {
	t.Helper()
	kube := kubernetes.NewForConfigOrDie(c.RESTConfig())
	err := sealedPoll(t.Context(), sealedUnsealTimeout, func(ctx context.Context) error {
		s, err := kube.CoreV1().Secrets(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		got := map[string]string{}
		for k, v := range s.Data {
			got[k] = string(v)
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			keys := []string{}
			for k := range got {
				keys = append(keys, k)
			}
			return fmt.Errorf("not the data asked for yet (keys %v)", keys)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("the controller's Secret %s/%s never held the data: %v", ns, name, err)
	}
}

func sealedPoll(ctx context.Context, timeout time.Duration, check func(context.Context) error) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for {
		err := check(ctx)
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (last: %v)", ctx.Err(), err)
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// The commands against the real sealed-secrets controller: a Secret created with the
// certificate from the controller's URL is committed, rendered, applied, and the controller
// makes the Secret of exactly the given data; set and edit re-seal only the keys they change
// (in a file the SealedSecret shares with another object, too); the three scopes; the
// certificate and the rotation through the API server's service proxy. No plaintext anywhere.
func TestE2ESecretSealedLifecycle(t *testing.T) {
	c := testcluster.SharedWithSealedSecrets(t)
	s := newSecretTest(t, "sealed")
	s.plains = []string{plainPassword, plainToken, plainAPIKey, plainNewPass, plainEdited}
	ns := "sealed-cmd-" + utilrand.String(6)
	if err := c.CreateNamespace(t.Context(), ns); err != nil {
		t.Fatal(err)
	}
	args := func(a ...string) []string {
		return append(a, "--repo", s.dir, "--target", "staging", "--kubeconfig", c.KubeconfigPath, "-n", ns)
	}
	cert := "--cert=" + c.SealedSecretsCertURL
	const file = "apps/staging/sealedsecret-db.yaml"

	out, _ := s.mustRun("", args("create", "secret", "generic", "db", cert,
		"--from-literal=username=admin", "--from-literal=password="+plainPassword, "--from-literal=token="+plainToken)...)
	if out != "secret/db created\n" {
		t.Errorf("create printed %q", out)
	}
	if got := s.committedFiles(); got != "apps/staging/kustomization.yaml\n"+file {
		t.Errorf("the commit changed:\n%s", got)
	}
	s.guardPasses()
	sealedApply(t, c, s.dir, "db")
	sealedWaitForData(t, c, ns, "db", map[string]string{"username": "admin", "password": plainPassword, "token": plainToken})

	// The SealedSecret shares its file with a ConfigMap from now on: set and edit replace its
	// document and leave the other one as it is.
	sealedDoc := s.show("HEAD", file)
	s.commit("one file", map[string]string{file: "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: db-settings\n  namespace: " + ns + "\ndata:\n  pool: \"5\"\n---\n" + sealedDoc})

	// set secret: only the password's line changes; the controller's Secret follows.
	before := s.show("HEAD", file)
	s.mustRun("", args("set", "secret", "db", "password="+plainNewPass, cert)...)
	after := s.show("HEAD", file)
	if got := changedLines(t, before, after); fmt.Sprint(got) != "[password]" {
		t.Errorf("set secret changed the lines %v, want password", got)
	}
	sealedApply(t, c, s.dir, "db")
	sealedWaitForData(t, c, ns, "db", map[string]string{"username": "admin", "password": plainNewPass, "token": plainToken})

	// edit: the keys are shown with a placeholder; a new value re-seals that key, a removed key
	// goes.
	t.Setenv("EDITOR", `sed -i -e 's/username: "<sealed: unchanged>"/username: `+plainEdited+`/' -e '/token:/d'`)
	before = after
	s.mustRun("", args("edit", "secret/db", cert)...)
	after = s.show("HEAD", file)
	if !strings.Contains(before, "    token: ") || strings.Contains(after, "    token: ") {
		t.Errorf("edit did not remove token:\n%s", after)
	}
	for _, line := range strings.Split(before, "\n") {
		if strings.Contains(line, "password: ") && !strings.Contains(after, line+"\n") {
			t.Errorf("edit changed the password's ciphertext")
		}
	}
	sealedApply(t, c, s.dir, "db")
	sealedWaitForData(t, c, ns, "db", map[string]string{"username": plainEdited, "password": plainNewPass})

	// The other scopes.
	for _, scope := range []string{"namespace-wide", "cluster-wide"} {
		name := "api-" + strings.Split(scope, "-")[0]
		s.mustRun("", args("create", "secret", "generic", name, cert, "--scope", scope, "--from-literal=key="+plainAPIKey)...)
		doc := s.show("HEAD", "apps/staging/sealedsecret-"+name+".yaml")
		if !strings.Contains(doc, "sealedsecrets.bitnami.com/"+scope+": \"true\"") {
			t.Errorf("the %s SealedSecret lacks its scope annotation:\n%s", scope, doc)
		}
		sealedApply(t, c, s.dir, name)
		sealedWaitForData(t, c, ns, name, map[string]string{"key": plainAPIKey})
	}

	// The certificate from $SEALED_SECRETS_CERT, then from the file the configuration names.
	t.Setenv(sealed.CertEnv, c.SealedSecretsCertURL)
	s.mustRun("", args("create", "secret", "generic", "from-env", "--from-literal=key="+plainAPIKey)...)
	sealedApply(t, c, s.dir, "from-env")
	sealedWaitForData(t, c, ns, "from-env", map[string]string{"key": plainAPIKey})
	t.Setenv(sealed.CertEnv, "")
	resp, err := http.Get(c.SealedSecretsCertURL)
	if err != nil {
		t.Fatal(err)
	}
	pemCert, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	config, err := os.ReadFile(filepath.Join(s.dir, ".kubectl-gitops.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	s.commit("the sealing certificate", map[string]string{
		"certs/sealed-secrets.pem": string(pemCert),
		".kubectl-gitops.yaml":     string(config) + "  sealedSecrets:\n    cert: certs/sealed-secrets.pem\n",
	})
	s.mustRun("", args("create", "secret", "generic", "from-config", "--from-literal=key="+plainAPIKey)...)
	sealedApply(t, c, s.dir, "from-config")
	sealedWaitForData(t, c, ns, "from-config", map[string]string{"key": plainAPIKey})
	s.commit("no certificate", map[string]string{".kubectl-gitops.yaml": string(config)})

	// Through the API server: the certificate from the controller's Service, no --cert.
	sealedServeThroughProxy(t, c)
	err = sealedPoll(t.Context(), sealedUnsealTimeout, func(context.Context) error {
		_, errOut, code := s.run("", args("create", "secret", "generic", "proxied", "--from-literal=token="+plainToken)...)
		if code != 0 {
			return fmt.Errorf("%s", errOut)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("create with the certificate through the API server: %v", err)
	}
	sealedApply(t, c, s.dir, "proxied")
	sealedWaitForData(t, c, ns, "proxied", map[string]string{"token": plainToken})

	// rotate: the controller re-seals every value; only encryptedData's lines change.
	before = s.show("HEAD", file)
	out, _ = s.mustRun("", args("secrets", "rotate", "db")...)
	if out != "sealedsecret.bitnami.com/db rotated\n" {
		t.Errorf("rotate printed %q", out)
	}
	after = s.show("HEAD", file)
	if got := changedLines(t, before, after); fmt.Sprint(got) != "[password username]" {
		t.Errorf("rotate changed the lines %v, want password, username", got)
	}
	sealedApply(t, c, s.dir, "db")
	sealedWaitForData(t, c, ns, "db", map[string]string{"username": plainEdited, "password": plainNewPass})
	s.guardPasses()
}

// sealedServeThroughProxy makes the controller reachable through the API server's service
// proxy, as kube-system/sealed-secrets-controller, port "http" (see the harness).
func sealedServeThroughProxy(t *testing.T, c *testcluster.Cluster) {
	t.Helper()
	c.ServeSealedSecretsThroughProxy(t, sealed.DefaultControllerNamespace, sealed.DefaultControllerName, sealed.DefaultControllerName+"-plugin")
}
