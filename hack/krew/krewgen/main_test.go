package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func linuxAmd64Archive(t *testing.T, path string, withLicense bool) {
	t.Helper()
	elf := make([]byte, 64)
	copy(elf, "\x7fELF\x02\x01\x01")
	binary.LittleEndian.PutUint16(elf[18:], 62)
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	files := []struct {
		name string
		mode int64
		data []byte
	}{{"kubectl-gitops", 0o755, elf}}
	if withLicense {
		files = append(files, struct {
			name string
			mode int64
			data []byte
		}{"LICENSE", 0o644, []byte("license\n")})
	}
	for _, f := range files {
		if err := tw.WriteHeader(&tar.Header{Name: f.name, Mode: f.mode, Size: int64(len(f.data)), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(f.data); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := gz.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestRunWritesManifest(t *testing.T) {
	dist := t.TempDir()
	linuxAmd64Archive(t, filepath.Join(dist, "kubectl-gitops_v0.1.0_linux_amd64.tar.gz"), true)
	out := filepath.Join(t.TempDir(), "krew", "gitops.yaml")
	var stdout, stderr bytes.Buffer
	err := run([]string{"--version", "v0.1.0", "--dist", dist, "--platforms", "linux/amd64",
		"--url-template", "https://example.invalid/{{.Version}}/{{.File}}", "--out", out}, &stdout, &stderr)
	if err != nil {
		t.Fatalf("run: %v (stderr %s)", err, stderr.String())
	}
	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(data), `uri: "https://example.invalid/v0.1.0/kubectl-gitops_v0.1.0_linux_amd64.tar.gz"`) {
		t.Errorf("manifest:\n%s", data)
	}
}

func TestRunRejects(t *testing.T) {
	dist := t.TempDir()
	linuxAmd64Archive(t, filepath.Join(dist, "kubectl-gitops_v0.1.0_linux_amd64.tar.gz"), false)
	out := filepath.Join(t.TempDir(), "gitops.yaml")
	for name, args := range map[string][]string{
		"no license":  {"--version", "v0.1.0", "--dist", dist, "--platforms", "linux/amd64", "--out", out},
		"no version":  {"--dist", dist, "--out", out},
		"all missing": {"--version", "v0.1.0", "--dist", dist, "--out", out},
		"extra arg":   {"--version", "v0.1.0", "--dist", dist, "stray"},
	} {
		var stdout, stderr bytes.Buffer
		if err := run(args, &stdout, &stderr); err == nil {
			t.Errorf("%s: run succeeded", name)
		}
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Errorf("a rejected run wrote %s", out)
	}
}
