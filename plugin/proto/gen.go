// Package proto holds the protocol of out-of-process translators: the
// Xlator service (every fop and the callbacks) and the Control service (a
// plugin's lifecycle), generated from xlator.proto. The generated files are
// committed; regenerate them after editing xlator.proto with
//
//	go generate ./plugin/proto
//
// which needs protoc (apt-get install protobuf-compiler) and the Go
// generators (go install google.golang.org/protobuf/cmd/protoc-gen-go@latest
// google.golang.org/grpc/cmd/protoc-gen-go-grpc@latest) on PATH.
package proto

//go:generate protoc --go_out=. --go_opt=paths=source_relative --go-grpc_out=. --go-grpc_opt=paths=source_relative xlator.proto
