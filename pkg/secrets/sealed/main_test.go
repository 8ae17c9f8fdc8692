package sealed_test

import (
	"testing"

	"github.com/kubectl-gitops/kubectl-gitops/internal/testcluster"
)

func TestMain(m *testing.M) { testcluster.RunMain(m) }
