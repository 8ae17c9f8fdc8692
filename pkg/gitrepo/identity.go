package gitrepo

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// IdentityError reports that git's configuration does not say who commits.
type IdentityError struct {
	Role    string // "author" or "committer"
	Missing string // "name" or "email"
}

func (e *IdentityError) Error() string {
	return fmt.Sprintf("%s identity unknown (no %s): tell git who you are with\n"+
		"  git config --global user.name \"Your Name\"\n"+
		"  git config --global user.email \"you@example.com\"\n"+
		"(omit --global to set the identity only in this repository)", e.Role, e.Missing)
}

// signature is a commit's author or committer line.
type signature struct {
	name, email string
	when        time.Time
}

func (s signature) String() string {
	return fmt.Sprintf("%s <%s> %d %s", s.name, s.email, s.when.Unix(), s.when.Format("-0700"))
}

// resolveIdentity finds author and committer the way git does: GIT_AUTHOR_* / GIT_COMMITTER_*
// variables, then author.* / committer.*, then user.*, then EMAIL for the address. Unlike git it
// never guesses a name or address from the system: a commit pushed to a shared repository
// should carry an identity someone chose.
func resolveIdentity(cfg *gitConfig, now time.Time) (author, committer signature, err error) {
	author, err = resolveRole(cfg, "author", "GIT_AUTHOR_", now)
	if err != nil {
		return author, committer, err
	}
	committer, err = resolveRole(cfg, "committer", "GIT_COMMITTER_", now)
	return author, committer, err
}

func resolveRole(cfg *gitConfig, role, env string, now time.Time) (signature, error) {
	s := signature{when: now}
	lookup := func(key string) string {
		if v, ok := os.LookupEnv(env + strings.ToUpper(key)); ok {
			return v
		}
		if v, ok := cfg.get(role, "", key); ok {
			return v
		}
		v, _ := cfg.get("user", "", key)
		return v
	}
	s.name = sanitizeIdent(lookup("name"))
	email := lookup("email")
	if _, set := os.LookupEnv(env + "EMAIL"); email == "" && !set {
		email = os.Getenv("EMAIL")
	}
	s.email = sanitizeIdent(email)
	if s.name == "" {
		return s, &IdentityError{Role: role, Missing: "name"}
	}
	if s.email == "" {
		return s, &IdentityError{Role: role, Missing: "email"}
	}
	if d := os.Getenv(env + "DATE"); d != "" {
		t, err := parseGitDate(d)
		if err != nil {
			return s, fmt.Errorf("invalid %sDATE: %w", env, err)
		}
		s.when = t
	}
	return s, nil
}

// sanitizeIdent removes what git removes from names and addresses: angle brackets, newlines,
// and leading and trailing punctuation and space.
func sanitizeIdent(v string) string {
	v = strings.Map(func(r rune) rune {
		if r == '<' || r == '>' || r == '\n' {
			return -1
		}
		return r
	}, v)
	return strings.Trim(v, " \t.,:;\"'\\")
}

// parseGitDate accepts the formats of GIT_AUTHOR_DATE in common use: git's internal
// "<unix> <+zone>" (optionally with a leading @), RFC 2822 and ISO 8601.
func parseGitDate(v string) (time.Time, error) {
	v = strings.TrimSpace(v)
	if secs, zone, ok := strings.Cut(strings.TrimPrefix(v, "@"), " "); ok {
		if n, err := strconv.ParseInt(secs, 10, 64); err == nil {
			if z, err := time.Parse("-0700", zone); err == nil {
				return time.Unix(n, 0).In(z.Location()), nil
			}
		}
	} else if n, err := strconv.ParseInt(strings.TrimPrefix(v, "@"), 10, 64); err == nil && strings.HasPrefix(v, "@") {
		return time.Unix(n, 0).UTC(), nil
	}
	for _, layout := range []string{time.RFC1123Z, "Mon, 2 Jan 2006 15:04:05 -0700", "2 Jan 2006 15:04:05 -0700",
		time.RFC3339, "2006-01-02T15:04:05-0700", "2006-01-02 15:04:05 -0700", "2006-01-02 15:04:05 -07:00",
		"2006-01-02 15:04:05Z07:00"} {
		if t, err := time.Parse(layout, v); err == nil {
			return t, nil
		}
	}
	for _, layout := range []string{"2006-01-02T15:04:05", "2006-01-02 15:04:05"} {
		if t, err := time.ParseInLocation(layout, v, time.Local); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("cannot parse date %q", v)
}
