package testcluster

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
)

// TestbinEnv names the directory holding the control-plane binaries when they are not in the
// repository's bin/testbin.
const TestbinEnv = "KUBECTL_GITOPS_TESTBIN"

const (
	etcdBinary          = "etcd"
	apiserverBinary     = "kube-apiserver"
	sealedSecretsBinary = "sealed-secrets-controller"

	modulePath    = "github.com/kubectl-gitops/kubectl-gitops"
	sealedSecrets = "github.com/bitnami-labs/sealed-secrets"
)

// ErrBinaryMissing is returned when a control-plane binary has not been built.
var ErrBinaryMissing = errors.New("testcluster binary missing")

// testbinDir resolves the directory of the binaries: the explicit option, then
// $KUBECTL_GITOPS_TESTBIN, then bin/testbin under the repository root.
func testbinDir(explicit string) (string, error) {
	if explicit == "" {
		explicit = os.Getenv(TestbinEnv)
	}
	if explicit != "" {
		return filepath.Abs(explicit)
	}
	root, err := repoRoot()
	if err != nil {
		return "", err
	}
	return filepath.Join(root, "bin", "testbin"), nil
}

// binary returns the path of a built binary, or ErrBinaryMissing with how to build it.
func binary(dir, name string) (string, error) {
	path := filepath.Join(dir, name)
	info, err := os.Stat(path)
	if err != nil || info.IsDir() || info.Mode()&0o111 == 0 {
		return "", fmt.Errorf("%w: %s not found; build the binaries with `make testbin` (sources in hack/testbin) or point $%s at them",
			ErrBinaryMissing, path, TestbinEnv)
	}
	return path, nil
}

// repoRoot finds the repository from the working directory (go test runs in the package
// directory), falling back to where this file was compiled from.
func repoRoot() (string, error) {
	var starts []string
	if wd, err := os.Getwd(); err == nil {
		starts = append(starts, wd)
	}
	if _, file, _, ok := runtime.Caller(0); ok && filepath.IsAbs(file) {
		starts = append(starts, filepath.Dir(file))
	}
	for _, dir := range starts {
		for {
			data, err := os.ReadFile(filepath.Join(dir, "go.mod"))
			if err == nil && isRootModule(data) {
				return dir, nil
			}
			parent := filepath.Dir(dir)
			if parent == dir {
				break
			}
			dir = parent
		}
	}
	return "", fmt.Errorf("finding the %s repository root from the working directory: not inside it; set $%s", modulePath, TestbinEnv)
}

func isRootModule(gomod []byte) bool {
	for line := range strings.Lines(string(gomod)) {
		if f := strings.Fields(line); len(f) == 2 && f[0] == "module" {
			return f[1] == modulePath
		}
	}
	return false
}

// sealedSecretsCRD locates the SealedSecret CRD in the module cache, at the version pinned by
// hack/testbin/sealedsecrets, so the CRD always matches the controller binary.
func sealedSecretsCRD() (string, error) {
	root, err := repoRoot()
	if err != nil {
		return "", err
	}
	cmd := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", sealedSecrets)
	cmd.Dir = filepath.Join(root, "hack", "testbin", "sealedsecrets")
	cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod", "GOWORK=off")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("locating the %s module from %s: %w: %s", sealedSecrets, cmd.Dir, err, bytes.TrimSpace(stderr.Bytes()))
	}
	crd := filepath.Join(strings.TrimSpace(string(out)), "helm", "sealed-secrets", "crds", "bitnami.com_sealedsecrets.yaml")
	if _, err := os.Stat(crd); err != nil {
		return "", fmt.Errorf("locating the SealedSecret CRD: %w (run `make testbin` to download the module)", err)
	}
	return crd, nil
}
