// Package testifycases holds tests that use testify.
package testifycases
