//go:build !race

package xlator_test

const raceEnabled = false
