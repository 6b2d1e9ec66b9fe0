//go:build race

package xlator

import "sync/atomic"

func st64(p *int64, v int64)  { atomic.StoreInt64(p, v) }
func ld64(p *int64) int64     { return atomic.LoadInt64(p) }
func add64(p *int64, v int64) { atomic.AddInt64(p, v) }
func st32(p *int32, v int32)  { atomic.StoreInt32(p, v) }
func ld32(p *int32) int32     { return atomic.LoadInt32(p) }
