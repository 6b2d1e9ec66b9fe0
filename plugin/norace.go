//go:build !race

package plugin

func raceRelease() {}
func raceAcquire() {}
