//go:build race

package xlator_test

const raceEnabled = true
