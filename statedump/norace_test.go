//go:build !race

package statedump_test

const raceEnabled = false
