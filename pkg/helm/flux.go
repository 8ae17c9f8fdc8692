package helm

import (
	"crypto/sha256"
	"encoding/hex"
)

// FluxRelease returns the Helm release name and namespace helm-controller uses for the HelmRelease
// name/namespace: spec.releaseName, else "<targetNamespace>-<name>" with a targetNamespace, else
// the name; a name over Helm's 53 characters is cut to 40 and suffixed with "-" and the first 12
// hex digits of its SHA-256 (helm-controller's release.ShortenName, an internal package). The
// namespace is spec.targetNamespace, else the HelmRelease's.
func FluxRelease(name, namespace, releaseName, targetNamespace string) (release, releaseNamespace string) {
	release = releaseName
	switch {
	case release != "":
	case targetNamespace != "":
		release = targetNamespace + "-" + name
	default:
		release = name
	}
	const maxLen, hashLen = 53, 12
	if len(release) > maxLen {
		sum := sha256.Sum256([]byte(release))
		release = release[:maxLen-hashLen-1] + "-" + hex.EncodeToString(sum[:])[:hashLen]
	}
	releaseNamespace = namespace
	if targetNamespace != "" {
		releaseNamespace = targetNamespace
	}
	return release, releaseNamespace
}
