// Package xlatortest holds translators for tests: Mem, an in-memory bottom
// of a stack that implements every fop; Recorder, which logs lifecycle
// events and the fops it sees; Fault, which injects errors by fop; and
// helpers to build graphs from them.
package xlatortest
