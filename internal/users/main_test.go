package users_test

import (
	"testing"

	"github.com/poolguard/poolguard/internal/users/userstest"
	"github.com/poolguard/poolguard/pooltest"
)

func TestMain(m *testing.M) { pooltest.VerifyTestMain(m) }

var newPool = userstest.New
