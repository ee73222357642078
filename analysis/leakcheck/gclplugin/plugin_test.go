package gclplugin_test

import (
	"testing"

	"github.com/golangci/plugin-module-register/register"
	_ "github.com/poolguard/poolguard/analysis/leakcheck/gclplugin"
)

func TestPlugin(t *testing.T) {
	newPlugin, err := register.GetPlugin("leakcheck")
	if err != nil {
		t.Fatal(err)
	}
	p, err := newPlugin(map[string]any{})
	if err != nil {
		t.Fatal(err)
	}
	as, err := p.BuildAnalyzers()
	if err != nil || len(as) != 1 || as[0].Name != "leakcheck" {
		t.Fatalf("BuildAnalyzers() = %v, %v", as, err)
	}
	if p.GetLoadMode() != register.LoadModeTypesInfo {
		t.Errorf("load mode %q", p.GetLoadMode())
	}
	if _, err := newPlugin(map[string]any{"unknown": 1}); err == nil {
		t.Error("unknown setting accepted")
	}
}
