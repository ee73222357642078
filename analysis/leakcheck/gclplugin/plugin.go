// Package gclplugin registers leakcheck as a golangci-lint module
// plugin. Build a custom golangci-lint with a .custom-gcl.yml that
// imports this package; see docs/leakcheck.md.
package gclplugin

import (
	"github.com/golangci/plugin-module-register/register"
	"github.com/poolguard/poolguard/analysis/leakcheck"
	"golang.org/x/tools/go/analysis"
)

func init() {
	register.Plugin("leakcheck", New)
}

// Settings are the plugin's settings in .golangci.yml.
type Settings struct {
	// Resources is the path of a -resources file, if any.
	Resources string `json:"resources"`
}

// New returns the plugin for the given settings.
func New(conf any) (register.LinterPlugin, error) {
	s, err := register.DecodeSettings[Settings](conf)
	if err != nil {
		return nil, err
	}
	return &plugin{settings: s}, nil
}

type plugin struct {
	settings Settings
}

// BuildAnalyzers returns the leakcheck analyzer, configured.
func (p *plugin) BuildAnalyzers() ([]*analysis.Analyzer, error) {
	if p.settings.Resources != "" {
		if err := leakcheck.Analyzer.Flags.Set("resources", p.settings.Resources); err != nil {
			return nil, err
		}
	}
	return []*analysis.Analyzer{leakcheck.Analyzer}, nil
}

// GetLoadMode asks for type information: the analyzer needs it.
func (p *plugin) GetLoadMode() string { return register.LoadModeTypesInfo }
