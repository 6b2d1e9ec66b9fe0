//go:build !race

package transport

func raceRelease() {}
func raceAcquire() {}
