// Package require is a minimal stand-in for testify's require.
package require

type TestingT interface{ FailNow() }

func NoError(t TestingT, err error, msgAndArgs ...any)          {}
func Error(t TestingT, err error, msgAndArgs ...any)            {}
func ErrorIs(t TestingT, err, target error, msgAndArgs ...any)  {}
func Nil(t TestingT, v any, msgAndArgs ...any)                  {}
func True(t TestingT, v bool, msgAndArgs ...any)                {}
func False(t TestingT, v bool, msgAndArgs ...any)               {}
func Equal(t TestingT, expected, actual any, msgAndArgs ...any) {}
