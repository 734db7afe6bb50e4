module github.com/kubectl-promote/kubectl-promote/examples/policies/go/qa-approved

go 1.22

require github.com/kubectl-promote/kubectl-promote/sdk/go v0.0.0

// This example builds against the SDK in this repository. Outside it, drop the replace and
// `go get github.com/kubectl-promote/kubectl-promote/sdk/go@latest`.
replace github.com/kubectl-promote/kubectl-promote/sdk/go => ../../../../sdk/go
