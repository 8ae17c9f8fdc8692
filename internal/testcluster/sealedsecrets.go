package testcluster

import (
	"context"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"

	authenticationv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

const (
	// SealedSecretsNamespace holds the controller's service account and its sealing keys.
	SealedSecretsNamespace = "kube-system"
	// SealedSecretsKeyLabel marks the Secrets holding the controller's sealing keys.
	SealedSecretsKeyLabel = "sealedsecrets.bitnami.com/sealed-secrets-key"

	sealedSecretsAccount = "sealed-secrets-controller"
	// inClusterDir is where client-go's in-cluster configuration reads the service account.
	inClusterDir = "/var/run/secrets/kubernetes.io/serviceaccount"
)

// ErrSealedSecretsUnsupported is returned when this machine cannot run the controller.
var ErrSealedSecretsUnsupported = errors.New("cannot run the sealed-secrets controller here")

// sealedSecretsSupport explains why the controller cannot run here, or returns nil. The
// controller only knows in-cluster configuration, so it runs in a private mount namespace
// where DIR/serviceaccount is bind-mounted on the in-cluster path: that needs root and unshare.
func sealedSecretsSupport() error {
	if os.Geteuid() != 0 {
		return fmt.Errorf("%w: it needs root to bind-mount its service-account token on %s in a private mount namespace", ErrSealedSecretsUnsupported, inClusterDir)
	}
	if _, err := exec.LookPath("unshare"); err != nil {
		return fmt.Errorf("%w: unshare(1) from util-linux is not installed", ErrSealedSecretsUnsupported)
	}
	return nil
}

// sealedSecretsRBAC gives the controller a ServiceAccount bound to cluster-admin: the harness
// tests our use of the controller, not the controller's own RBAC.
const sealedSecretsRBAC = `
apiVersion: v1
kind: ServiceAccount
metadata:
  name: sealed-secrets-controller
  namespace: kube-system
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata:
  name: sealed-secrets-controller
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: ClusterRole
  name: cluster-admin
subjects:
- kind: ServiceAccount
  name: sealed-secrets-controller
  namespace: kube-system
`

// StartSealedSecrets installs the SealedSecret CRD and runs the sealed-secrets controller
// against the cluster, returning once it serves its certificate at SealedSecretsCertURL. It
// does nothing if the controller already runs. It needs root and unshare(1).
func (c *Cluster) StartSealedSecrets(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.SealedSecretsCertURL != "" {
		return nil
	}
	if err := sealedSecretsSupport(); err != nil {
		return err
	}
	testbin, err := testbinDir(c.opts.TestbinDir)
	if err != nil {
		return err
	}
	controller, err := binary(testbin, sealedSecretsBinary)
	if err != nil {
		return err
	}
	crd, err := sealedSecretsCRD()
	if err != nil {
		return err
	}
	if err := c.InstallCRDs(ctx, crd); err != nil {
		return err
	}
	if _, err := c.ApplyYAML(ctx, DefaultFieldManager, []byte(sealedSecretsRBAC)); err != nil {
		return fmt.Errorf("creating the sealed-secrets service account: %w", err)
	}
	// A year, so that a devcluster left running keeps a working controller.
	expiry := int64(365 * 24 * 60 * 60)
	token, err := c.kube.CoreV1().ServiceAccounts(SealedSecretsNamespace).CreateToken(ctx, sealedSecretsAccount,
		&authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: &expiry}}, metav1.CreateOptions{})
	if err != nil {
		return fmt.Errorf("requesting a token for the sealed-secrets controller: %w", err)
	}

	saDir := filepath.Join(c.Dir, serviceAccountDir)
	if err := os.MkdirAll(saDir, 0o700); err != nil {
		return err
	}
	for name, data := range map[string][]byte{
		"token":     []byte(token.Status.Token),
		"ca.crt":    c.caPEM,
		"namespace": []byte(SealedSecretsNamespace),
	} {
		if err := os.WriteFile(filepath.Join(saDir, name), data, 0o600); err != nil {
			return fmt.Errorf("writing the controller's service account: %w", err)
		}
	}

	ports, err := freePorts(2)
	if err != nil {
		return err
	}
	host, err := url.Parse(c.Host)
	if err != nil {
		return fmt.Errorf("parsing the API server URL: %w", err)
	}
	listen := "127.0.0.1:" + strconv.Itoa(ports[0])
	// The mount is private to the new namespace (unshare's default propagation), so the host's
	// in-cluster path only gains an empty directory.
	script := `mkdir -p "$1" && mount --bind "$2" "$1" && shift 2 && exec "$@"`
	proc, err := c.startProcess(sealedSecretsBinary, "unshare", []string{
		"-m", "sh", "-c", script, "sh", inClusterDir, saDir,
		controller,
		"--listen-addr=" + listen,
		"--listen-metrics-addr=127.0.0.1:" + strconv.Itoa(ports[1]),
		// 4096-bit keys take seconds to generate on a small CI machine, and tests gain nothing.
		"--key-size=2048",
	}, []string{
		"KUBERNETES_SERVICE_HOST=" + host.Hostname(),
		"KUBERNETES_SERVICE_PORT=" + host.Port(),
		"POD_NAMESPACE=" + SealedSecretsNamespace,
	})
	if err != nil {
		return err
	}
	certURL := "http://" + listen + "/v1/cert.pem"
	if err := waitUntil(ctx, c.opts.Timeout, proc, "waiting for the sealed-secrets controller", func(ctx context.Context) error {
		body, err := httpGet(ctx, http.DefaultClient, certURL)
		if err != nil {
			return err
		}
		if block, _ := pem.Decode(body); block == nil || block.Type != "CERTIFICATE" {
			return fmt.Errorf("%s did not serve a PEM certificate", certURL)
		}
		return nil
	}); err != nil {
		return errors.Join(err, c.forget(proc))
	}
	if err := writeFileAtomic(filepath.Join(c.Dir, sealedSecretsURLFile), []byte(certURL), 0o644); err != nil {
		return err
	}
	c.SealedSecretsCertURL = certURL
	return nil
}
