// Package quiet keeps the libraries' own logging off a command's terminal, as a program that
// uses them as libraries should: kustomize prints deprecation warnings on every render (a
// command renders each target several times) and logs through the standard logger, client-go
// logs through klog what the commands report themselves (an unreachable cluster). Warnings the
// API server sends, which kubectl shows, still reach the terminal, as kubectl prints them.
package quiet

import (
	"bufio"
	"bytes"
	"io"
	"log"
	"os"

	"github.com/go-logr/logr"
	"k8s.io/client-go/rest"
	"k8s.io/klog/v2"
)

// Libraries quiets the libraries for the whole process, whose terminal is stderr, and returns
// the function to call before the process exits: it restores os.Stderr and waits until every
// line written there has reached stderr.
func Libraries(stderr *os.File) (stop func()) {
	klog.SetLogger(logr.Discard())
	log.SetOutput(io.Discard)
	rest.SetDefaultWarningHandler(rest.NewWarningWriter(stderr, rest.WarningWriterOptions{Deduplicate: true}))
	return Stderr(stderr, KustomizeDeprecation)
}

// Stderr points os.Stderr, which some libraries write to directly, at a pipe whose lines are
// copied to out, less those drop matches. The returned function puts os.Stderr back and waits
// for the copy to finish. If no pipe can be made, os.Stderr is left as it is.
func Stderr(out *os.File, drop func(line []byte) bool) (stop func()) {
	r, w, err := os.Pipe()
	if err != nil {
		return func() {}
	}
	saved := os.Stderr
	os.Stderr = w
	done := make(chan struct{})
	go func() {
		defer close(done)
		br := bufio.NewReader(r)
		for {
			line, err := br.ReadBytes('\n')
			if len(line) > 0 && !drop(line) {
				_, _ = out.Write(line)
			}
			if err != nil {
				return
			}
		}
	}()
	return func() {
		os.Stderr = saved
		_ = w.Close()
		<-done
		_ = r.Close()
	}
}

// KustomizeDeprecation tells the warnings kustomize prints for deprecated kustomization fields
// ("# Warning: 'commonLabels' is deprecated. Please use 'labels' instead. ...").
func KustomizeDeprecation(line []byte) bool {
	return bytes.HasPrefix(line, []byte("# Warning: '")) && bytes.Contains(line, []byte("' is deprecated."))
}
