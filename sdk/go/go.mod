module github.com/kubectl-promote/kubectl-promote/sdk/go

go 1.22
