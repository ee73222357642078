module github.com/poolguard/poolguard/analysis/leakcheck/gclplugin

go 1.26.0

require (
	github.com/golangci/plugin-module-register v0.1.2
	github.com/poolguard/poolguard v0.0.0
	golang.org/x/tools v0.52.0
)

require github.com/google/go-cmp v0.7.0 // indirect

replace github.com/poolguard/poolguard => ../../..
