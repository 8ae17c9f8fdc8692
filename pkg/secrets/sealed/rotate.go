package sealed

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"

	ssv1alpha1 "github.com/bitnami-labs/sealed-secrets/pkg/apis/sealedsecrets/v1alpha1"
	"github.com/bitnami-labs/sealed-secrets/pkg/kubeseal"
	"k8s.io/client-go/kubernetes/scheme"
)

// Rotate seals every value of a SealedSecret again with the controller's newest key. Only the
// controller can decrypt the values, so it does the work (its /v1/rotate endpoint, reached at
// ControllerURL or through the API server's service proxy); no plaintext comes here. Only the
// encryptedData values change in the document.
func (p *Provider) Rotate(ctx context.Context, doc []byte) ([]byte, error) {
	ss, err := decode(doc)
	if err != nil {
		return nil, err
	}
	if ss.Namespace == "" {
		ss.Namespace = p.opts.DefaultNamespace
	}
	body, err := json.Marshal(ss)
	if err != nil {
		return nil, err
	}
	var rotated []byte
	switch {
	case p.opts.ControllerURL != "":
		rotated, err = p.rotateAt(ctx, strings.TrimSuffix(p.opts.ControllerURL, "/")+"/v1/rotate", body)
	case p.opts.RESTConfig != nil:
		var out bytes.Buffer
		err = kubeseal.ReEncryptSealedSecret(ctx, restClientConfig{p.opts.RESTConfig}, p.namespace(), p.name(), "json", bytes.NewReader(body), &out, scheme.Codecs)
		rotated = out.Bytes()
	default:
		return nil, fmt.Errorf("rotating SealedSecret %s needs the controller, which alone can decrypt it: use a kubeconfig that reaches its cluster", ss.Name)
	}
	if err != nil {
		return nil, fmt.Errorf("asking the sealed-secrets controller to re-seal %s: %w", ss.Name, err)
	}
	var fresh ssv1alpha1.SealedSecret
	if err := json.Unmarshal(rotated, &fresh); err != nil {
		return nil, fmt.Errorf("reading the re-sealed %s: %w", ss.Name, err)
	}
	var gone []string
	for k := range ss.Spec.EncryptedData {
		if _, ok := fresh.Spec.EncryptedData[k]; !ok {
			gone = append(gone, k)
		}
	}
	return editEncryptedData(doc, fresh.Spec.EncryptedData, gone)
}

func (p *Provider) rotateAt(ctx context.Context, url string, body []byte) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("POST %s: %s", url, resp.Status)
	}
	return out, nil
}
