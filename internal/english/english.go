// Package english spares an English-speaking user kubectl's translation catalog: kubectl's
// packages translate their help strings while they are initialized, and loading the catalog costs
// every command about 15 ms and 4 MB before it starts, to translate English into English.
//
// It works by being initialized before those packages: Go initializes packages in import-path
// order among those whose imports are ready, and this one sorts before k8s.io/kubectl's.
package english

import (
	"os"
	"strings"

	"k8s.io/kubectl/pkg/util/i18n"
)

func init() {
	if !wantsEnglish(os.Getenv) {
		return
	}
	// No catalog: every string is its English original.
	_ = i18n.SetLoadTranslationsFunc(func() error { return nil })
}

// wantsEnglish reads the locale as kubectl does (LC_ALL, then LC_MESSAGES, then LANG).
func wantsEnglish(getenv func(string) string) bool {
	lang := ""
	for _, v := range []string{"LC_ALL", "LC_MESSAGES", "LANG"} {
		if lang = getenv(v); lang != "" {
			break
		}
	}
	return lang == "" || lang == "C" || lang == "POSIX" || strings.HasPrefix(lang, "C.") || strings.HasPrefix(lang, "en")
}
