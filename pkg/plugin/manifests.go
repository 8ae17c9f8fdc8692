package plugin

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/cli-runtime/pkg/resource"
	cmdutil "k8s.io/kubectl/pkg/cmd/util"
	"sigs.k8s.io/yaml"
)

// maxManifestBytes bounds what one -f input (a file, stdin, an edit buffer) may hold: a
// hostile or mistaken input fails at once instead of taking the command's memory and time.
const maxManifestBytes = 16 << 20

// readManifests reads the objects -f names as kubectl reads them, with its resource builder
// and without the cluster: files, directories (-R for their subdirectories), "-" for stdin,
// List items flattened, each object's namespace as its file says. The input is strict, as
// kubectl's --validate=strict: a duplicate key or a YAML error is an error naming the file.
func readManifests(f cmdutil.Factory, stdin io.Reader, files []string, recursive bool) ([]*unstructured.Unstructured, error) {
	b := f.NewBuilder().Unstructured().Local().Flatten()
	var paths []string
	stdinUsed := false
	for _, fn := range files {
		switch {
		case fn == "-":
			if stdinUsed {
				return nil, fmt.Errorf("-f - is given more than once: standard input can be read once")
			}
			stdinUsed = true
			data, err := io.ReadAll(io.LimitReader(stdin, maxManifestBytes+1))
			if err != nil {
				return nil, fmt.Errorf("reading standard input: %w", err)
			}
			if err := strictDocuments("STDIN", data); err != nil {
				return nil, err
			}
			b = b.Stream(bytes.NewReader(data), "STDIN")
		case strings.Contains(fn, "://"):
			return nil, fmt.Errorf("-f %s: URLs are not supported; download the file and give its path", fn)
		default:
			if err := strictPath(fn, recursive); err != nil {
				return nil, err
			}
			paths = append(paths, fn)
		}
	}
	if len(paths) > 0 {
		b = b.FilenameParam(false, &resource.FilenameOptions{Filenames: paths, Recursive: recursive})
	}
	infos, err := b.Do().Infos()
	if err != nil {
		return nil, err
	}
	out := make([]*unstructured.Unstructured, 0, len(infos))
	for _, info := range infos {
		u, ok := info.Object.(*unstructured.Unstructured)
		if !ok {
			return nil, fmt.Errorf("%s: unexpected object type %T", info.Source, info.Object)
		}
		if u.GetKind() == "" || u.GetName() == "" {
			return nil, fmt.Errorf("error parsing %s: every object needs apiVersion, kind and metadata.name", info.Source)
		}
		out = append(out, u)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no objects passed in %s", strings.Join(files, ", "))
	}
	return out, nil
}

// strictPath checks the manifests of a file, or of a directory as the resource builder reads
// it (its .json, .yaml and .yml files; below it with recursive).
func strictPath(p string, recursive bool) error {
	info, err := os.Stat(p)
	if err != nil {
		return fmt.Errorf("the path %q does not exist", p)
	}
	if !info.IsDir() {
		return strictFile(p)
	}
	return filepath.WalkDir(p, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if path != p && !recursive {
				return filepath.SkipDir
			}
			return nil
		}
		switch strings.ToLower(filepath.Ext(path)) {
		case ".json", ".yaml", ".yml":
			return strictFile(path)
		}
		return nil
	})
}

func strictFile(p string) error {
	fh, err := os.Open(p)
	if err != nil {
		return err
	}
	defer fh.Close()
	data, err := io.ReadAll(io.LimitReader(fh, maxManifestBytes+1))
	if err != nil {
		return err
	}
	return strictDocuments(p, data)
}

// strictDocuments checks every document of a YAML or JSON stream: no duplicate key, no YAML
// error, and a size a manifest can have. The error names the source and never quotes values
// (the stream may hold a Secret).
func strictDocuments(source string, data []byte) error {
	if len(data) > maxManifestBytes {
		return fmt.Errorf("%s is larger than %d MiB: not a manifest this command reads", source, maxManifestBytes>>20)
	}
	reader := utilyaml.NewYAMLReader(bufio.NewReaderSize(bytes.NewReader(data), 64<<10))
	for n := 1; ; n++ {
		doc, err := reader.Read()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("error parsing %s: %w", source, err)
		}
		if _, err := yaml.YAMLToJSONStrict(doc); err != nil {
			return fmt.Errorf("error parsing %s (document %d): %s", source, n, strictReason(err))
		}
	}
}

// strictReason is a YAML error without the values it may quote.
func strictReason(err error) string {
	msg := err.Error()
	if i := strings.Index(msg, "already set in map"); i >= 0 {
		return "a key is given twice in one mapping (" + firstLine(msg) + ")"
	}
	return firstLine(msg)
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	return s
}

// decodeObjects reads the objects of a YAML or JSON stream (an edit buffer), List items
// included, strictly as readManifests does. Numbers come out as int64 and float64, as in
// objects read from the API server or rendered.
func decodeObjects(name string, data []byte) ([]*unstructured.Unstructured, error) {
	if err := strictDocuments(name, data); err != nil {
		return nil, err
	}
	reader := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	var out []*unstructured.Unstructured
	for {
		doc, err := reader.Read()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("error parsing %s: %w", name, err)
		}
		js, err := yaml.YAMLToJSONStrict(doc)
		if err != nil {
			return nil, fmt.Errorf("error parsing %s: %s", name, strictReason(err))
		}
		if len(bytes.TrimSpace(js)) == 0 || string(bytes.TrimSpace(js)) == "null" {
			continue
		}
		u := &unstructured.Unstructured{}
		if err := u.UnmarshalJSON(js); err != nil {
			return nil, fmt.Errorf("error parsing %s: %w", name, err)
		}
		if u.IsList() {
			err := u.EachListItem(func(item runtime.Object) error {
				out = append(out, item.(*unstructured.Unstructured))
				return nil
			})
			if err != nil {
				return nil, err
			}
			continue
		}
		if u.GetName() == "" {
			return nil, fmt.Errorf("error parsing %s: every object needs apiVersion, kind and metadata.name", name)
		}
		out = append(out, u)
	}
}
