// Package fopgen holds the one description of every fop (Table) and the
// generator of the code that only repeats it: the Fop constants and
// names, Base's pass-through, the graph's statistics wrapper and the
// plugin adapters on both sides (plugin/internal/rpc). What a fop does
// differently stays hand-written beside the generated file, and the table
// says which (Data, RemoteByHand, ServerByHand).
//
// Adding a fop: a Table entry (at the end), its method in xlator.Fops
// with its doc comment, its messages and method in plugin/proto's
// xlator.proto with a ring number in plugin/internal/transport/layout.go,
// then
//
//	go generate ./internal/fopgen
//
// The tests fail until all of these agree: TestGeneratedUpToDate (the
// committed files are this generator's output), TestTableMatchesFops (the
// table and the hand-written interface, by reflection), and the plugin's
// TestTableMatchesService (every fop has its request, reply and service
// method).
//
// The interface stays hand-written because its doc comments are the
// contract translator authors read, paragraphs that are easier to write
// and review as Go than as strings in a table; reflection keeps the two
// from drifting.
package fopgen

//go:generate go run ./cmd/fopgen -root ../..
