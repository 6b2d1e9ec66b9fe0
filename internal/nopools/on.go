//go:build nopools

package nopools

// On is true in binaries built with the nopools tag.
const On = true
