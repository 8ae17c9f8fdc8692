package gitrepo

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
)

// Git configuration is read here the way git reads it for the keys this package needs
// (identity, signing, reflogs): system, global (XDG, then ~/.gitconfig, or GIT_CONFIG_GLOBAL),
// repository and worktree files, then GIT_CONFIG_COUNT variables; later values win. include and
// includeIf (gitdir:, gitdir/i:, onbranch:) are followed at the point where they appear.
// Unsupported: includeIf "hasconfig:" and `git -c` (GIT_CONFIG_PARAMETERS).

type configEntry struct {
	section, subsection, name string // section and name lower-cased; subsection as written
	value                     string
	noValue                   bool // "name" alone, which means true
}

type gitConfig struct{ entries []configEntry }

func (c *gitConfig) get(section, subsection, name string) (string, bool) {
	for i := len(c.entries) - 1; i >= 0; i-- {
		e := c.entries[i]
		if e.section == section && e.subsection == subsection && e.name == name {
			return e.value, true
		}
	}
	return "", false
}

// getBool returns a boolean value and whether it is set.
func (c *gitConfig) getBool(section, subsection, name string) (bool, bool, error) {
	for i := len(c.entries) - 1; i >= 0; i-- {
		e := c.entries[i]
		if e.section == section && e.subsection == subsection && e.name == name {
			if e.noValue {
				return true, true, nil
			}
			v, err := parseConfigBool(e.value)
			if err != nil {
				return false, true, fmt.Errorf("bad boolean config value %q for %s.%s", e.value, section, name)
			}
			return v, true, nil
		}
	}
	return false, false, nil
}

func parseConfigBool(v string) (bool, error) {
	switch strings.ToLower(v) {
	case "true", "yes", "on":
		return true, nil
	case "false", "no", "off", "":
		return false, nil
	}
	n, err := strconv.Atoi(v)
	return n != 0, err
}

type configLoader struct {
	gitDir string // for includeIf "gitdir:"
	branch string // for includeIf "onbranch:"
	cfg    gitConfig
}

// readRepoConfig reads the configuration git would see in r.
func readRepoConfig(r *Repo) (*gitConfig, error) {
	l := &configLoader{gitDir: r.gitDir}
	if h, err := r.readHead(); err == nil {
		l.branch = shortBranch(h.ref)
	}
	home, _ := os.UserHomeDir()
	if !envBool("GIT_CONFIG_NOSYSTEM") {
		system := os.Getenv("GIT_CONFIG_SYSTEM")
		if system == "" {
			system = "/etc/gitconfig"
		}
		if err := l.readFile(system, 0); err != nil {
			return nil, err
		}
	}
	if global, ok := os.LookupEnv("GIT_CONFIG_GLOBAL"); ok {
		if global != "" {
			if err := l.readFile(global, 0); err != nil {
				return nil, err
			}
		}
	} else {
		var paths []string
		if xdg := os.Getenv("XDG_CONFIG_HOME"); xdg != "" {
			paths = append(paths, filepath.Join(xdg, "git", "config"))
		} else if home != "" {
			paths = append(paths, filepath.Join(home, ".config", "git", "config"))
		}
		if home != "" {
			paths = append(paths, filepath.Join(home, ".gitconfig"))
		}
		for _, p := range paths {
			if err := l.readFile(p, 0); err != nil {
				return nil, err
			}
		}
	}
	if err := l.readFile(filepath.Join(r.commonDir, "config"), 0); err != nil {
		return nil, err
	}
	if wt, _, _ := l.cfg.getBool("extensions", "", "worktreeconfig"); wt {
		if err := l.readFile(filepath.Join(r.gitDir, "config.worktree"), 0); err != nil {
			return nil, err
		}
	}
	if n, err := strconv.Atoi(os.Getenv("GIT_CONFIG_COUNT")); err == nil {
		for i := range n {
			key := os.Getenv(fmt.Sprintf("GIT_CONFIG_KEY_%d", i))
			first, last := strings.Index(key, "."), strings.LastIndex(key, ".")
			if first <= 0 || last == len(key)-1 {
				return nil, fmt.Errorf("invalid config key %q in GIT_CONFIG_KEY_%d", key, i)
			}
			e := configEntry{section: strings.ToLower(key[:first]), name: strings.ToLower(key[last+1:]),
				value: os.Getenv(fmt.Sprintf("GIT_CONFIG_VALUE_%d", i))}
			if first < last {
				e.subsection = key[first+1 : last]
			}
			l.cfg.entries = append(l.cfg.entries, e)
		}
	}
	return &l.cfg, nil
}

func envBool(name string) bool {
	v, err := parseConfigBool(os.Getenv(name))
	return err == nil && v
}

func (l *configLoader) readFile(path string, depth int) error {
	if depth > 10 {
		return fmt.Errorf("config include nesting too deep at %s", path)
	}
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, fs.ErrPermission) && depth > 0 {
		return nil
	}
	if err != nil {
		return fmt.Errorf("failed to read git config %s: %w", path, err)
	}
	err = parseConfig(data, func(e configEntry) error {
		l.cfg.entries = append(l.cfg.entries, e)
		if e.name != "path" || e.noValue {
			return nil
		}
		switch {
		case e.section == "include" && e.subsection == "":
		case e.section == "includeif" && l.condition(e.subsection, path):
		default:
			return nil
		}
		inc := expandHome(e.value)
		if !filepath.IsAbs(inc) {
			inc = filepath.Join(filepath.Dir(path), inc)
		}
		return l.readFile(inc, depth+1)
	})
	if err != nil {
		return fmt.Errorf("bad git config %s: %w", path, err)
	}
	return nil
}

func expandHome(p string) string {
	if rest, ok := strings.CutPrefix(p, "~/"); ok {
		if home, err := os.UserHomeDir(); err == nil {
			return filepath.Join(home, rest)
		}
	}
	return p
}

// condition evaluates an includeIf condition found in the file at path.
func (l *configLoader) condition(cond, path string) bool {
	kind, pattern, ok := strings.Cut(cond, ":")
	if !ok {
		return false
	}
	switch kind {
	case "gitdir", "gitdir/i":
		pattern = expandHome(pattern)
		if rest, ok := strings.CutPrefix(pattern, "./"); ok {
			pattern = filepath.Join(filepath.Dir(path), rest)
		}
		pattern = filepath.ToSlash(pattern)
		if !strings.HasPrefix(pattern, "/") && !filepath.IsAbs(filepath.FromSlash(pattern)) {
			pattern = "**/" + pattern
		}
		if strings.HasSuffix(pattern, "/") {
			pattern += "**"
		}
		dirs := []string{l.gitDir}
		if real, err := filepath.EvalSymlinks(l.gitDir); err == nil && real != l.gitDir {
			dirs = append(dirs, real)
		}
		for _, d := range dirs {
			if wildmatch(pattern, filepath.ToSlash(d), kind == "gitdir/i") {
				return true
			}
		}
	case "onbranch":
		if l.branch == "" {
			return false
		}
		if strings.HasSuffix(pattern, "/") {
			pattern += "**"
		}
		return wildmatch(pattern, l.branch, false)
	}
	return false
}

// wildmatch matches git's wildmatch with WM_PATHNAME: * and ? stop at /, ** crosses it.
func wildmatch(pattern, text string, fold bool) bool {
	var re strings.Builder
	if fold {
		re.WriteString("(?i)")
	}
	re.WriteString("^")
	for i := 0; i < len(pattern); i++ {
		c := pattern[i]
		switch {
		case strings.HasPrefix(pattern[i:], "**/"):
			re.WriteString("(?:.*/)?")
			i += 2
		case strings.HasPrefix(pattern[i:], "**"):
			re.WriteString(".*")
			i++
		case c == '*':
			re.WriteString("[^/]*")
		case c == '?':
			re.WriteString("[^/]")
		case c == '[':
			end := strings.IndexByte(pattern[i+1:], ']')
			if end < 0 {
				re.WriteString(`\[`)
				continue
			}
			class := pattern[i+1 : i+1+end]
			if strings.HasPrefix(class, "!") {
				class = "^" + class[1:]
			}
			re.WriteString("[" + strings.ReplaceAll(class, `\`, `\\`) + "]")
			i += end + 1
		case c == '\\' && i+1 < len(pattern):
			i++
			re.WriteString(regexp.QuoteMeta(pattern[i : i+1]))
		default:
			re.WriteString(regexp.QuoteMeta(string(c)))
		}
	}
	re.WriteString("$")
	m, err := regexp.MatchString(re.String(), text)
	return err == nil && m
}

// parseConfig parses git's configuration syntax (config.c), calling fn for every variable.
func parseConfig(data []byte, fn func(configEntry) error) error {
	s := strings.ReplaceAll(strings.TrimPrefix(string(data), "\uFEFF"), "\r\n", "\n")
	var section, subsection string
	line := 1
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == '\n':
			line++
			i++
		case c == ' ' || c == '\t':
			i++
		case c == '#' || c == ';':
			for i < len(s) && s[i] != '\n' {
				i++
			}
		case c == '[':
			end := i + 1
			for end < len(s) && (isAlnum(s[end]) || s[end] == '-' || s[end] == '.') {
				end++
			}
			name := strings.ToLower(s[i+1 : end])
			subsection = ""
			if end < len(s) && (s[end] == ' ' || s[end] == '\t') {
				for end < len(s) && (s[end] == ' ' || s[end] == '\t') {
					end++
				}
				if end >= len(s) || s[end] != '"' {
					return fmt.Errorf("line %d: bad section header", line)
				}
				end++
				var sub strings.Builder
				for end < len(s) && s[end] != '"' {
					if s[end] == '\n' {
						return fmt.Errorf("line %d: bad section header", line)
					}
					if s[end] == '\\' && end+1 < len(s) {
						end++
					}
					sub.WriteByte(s[end])
					end++
				}
				end++
				subsection = sub.String()
			} else if dot := strings.IndexByte(name, '.'); dot >= 0 {
				name, subsection = name[:dot], name[dot+1:]
			}
			if end >= len(s) || s[end] != ']' || name == "" {
				return fmt.Errorf("line %d: bad section header", line)
			}
			section = name
			i = end + 1
		case isAlpha(c):
			if section == "" {
				return fmt.Errorf("line %d: variable outside a section", line)
			}
			end := i
			for end < len(s) && (isAlnum(s[end]) || s[end] == '-') {
				end++
			}
			e := configEntry{section: section, subsection: subsection, name: strings.ToLower(s[i:end])}
			for end < len(s) && (s[end] == ' ' || s[end] == '\t') {
				end++
			}
			switch {
			case end >= len(s) || s[end] == '\n' || s[end] == '#' || s[end] == ';':
				e.noValue = true
				for end < len(s) && s[end] != '\n' {
					end++
				}
			case s[end] == '=':
				v, next, lines, err := parseConfigValue(s, end+1)
				if err != nil {
					return fmt.Errorf("line %d: %w", line, err)
				}
				e.value, end = v, next
				line += lines
			default:
				return fmt.Errorf("line %d: bad config variable", line)
			}
			if err := fn(e); err != nil {
				return err
			}
			i = end
		default:
			return fmt.Errorf("line %d: unexpected %q", line, c)
		}
	}
	return nil
}

// parseConfigValue reads a value from s[i:] up to the end of its line, returning it, the
// position of that newline, and the continuation lines consumed.
func parseConfigValue(s string, i int) (string, int, int, error) {
	var v strings.Builder
	quote, comment, spaces, lines := false, false, 0, 0
	for ; i < len(s); i++ {
		c := s[i]
		if c == '\n' {
			if quote {
				return "", i, lines, errors.New("unterminated quote")
			}
			break
		}
		if comment {
			continue
		}
		if (c == ' ' || c == '\t') && !quote {
			if v.Len() > 0 {
				spaces++
			}
			continue
		}
		if !quote && (c == ';' || c == '#') {
			comment = true
			continue
		}
		for ; spaces > 0; spaces-- {
			v.WriteByte(' ')
		}
		switch c {
		case '\\':
			i++
			if i >= len(s) {
				return "", i, lines, errors.New("bad escape")
			}
			switch s[i] {
			case '\n':
				lines++
			case 't':
				v.WriteByte('\t')
			case 'b':
				v.WriteByte('\b')
			case 'n':
				v.WriteByte('\n')
			case '\\', '"':
				v.WriteByte(s[i])
			default:
				return "", i, lines, fmt.Errorf("bad escape \\%c", s[i])
			}
		case '"':
			quote = !quote
		default:
			v.WriteByte(c)
		}
	}
	return v.String(), i, lines, nil
}

func isAlpha(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }
func isAlnum(c byte) bool { return isAlpha(c) || c >= '0' && c <= '9' }
