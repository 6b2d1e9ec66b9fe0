//go:build race

package statedump_test

const raceEnabled = true
