package rpc

import (
	"fmt"
	"io"
	"log"

	"github.com/hashicorp/go-hclog"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// Logging crosses the process boundary as go-plugin expects: the plugin
// writes one hclog-style JSON object per line on its stderr, the host's
// go-plugin client parses each line and logs it through an hclog.Logger,
// and the host's hclog.Logger is an adapter into the volume's zap logger.

// hclogTimeLayout is the only @timestamp layout go-plugin parses; a line
// whose timestamp does not match is not recognised as JSON at all and
// arrives as one debug message.
const hclogTimeLayout = "2006-01-02T15:04:05.000000Z07:00"

// PluginLogger returns the plugin process's zap logger: hclog-compatible
// JSON on w (the plugin's original stderr) at level lvl.
func PluginLogger(w io.Writer, lvl zap.AtomicLevel) *zap.Logger {
	enc := zapcore.NewJSONEncoder(zapcore.EncoderConfig{
		MessageKey:     "@message",
		LevelKey:       "@level",
		TimeKey:        "@timestamp",
		NameKey:        "@module",
		EncodeTime:     zapcore.TimeEncoderOfLayout(hclogTimeLayout),
		EncodeLevel:    hclogLevel,
		EncodeDuration: zapcore.StringDurationEncoder,
		EncodeName:     zapcore.FullNameEncoder,
	})
	return zap.New(zapcore.NewCore(enc, zapcore.AddSync(w), lvl))
}

// hclogLevel writes zap levels as the level names hclog parses.
func hclogLevel(l zapcore.Level, enc zapcore.PrimitiveArrayEncoder) {
	switch {
	case l <= zapcore.DebugLevel:
		enc.AppendString("debug")
	case l == zapcore.InfoLevel:
		enc.AppendString("info")
	case l == zapcore.WarnLevel:
		enc.AppendString("warn")
	default:
		enc.AppendString("error")
	}
}

// zapHCLog is an hclog.Logger that writes into a zap logger: what the host
// gives go-plugin, so that go-plugin's own messages and the plugin's log
// lines arrive in the volume's logger. Key/value pairs become zap fields;
// Named adds a "plugin" field instead of renaming the logger, so every
// line stays under the volume's name.
type zapHCLog struct {
	z     *zap.Logger
	name  string
	args  []any
	level hclog.Level
}

var _ hclog.Logger = (*zapHCLog)(nil)

func NewZapHCLog(z *zap.Logger) *zapHCLog {
	lvl := hclog.Info
	switch {
	case z.Core().Enabled(zapcore.DebugLevel):
		lvl = hclog.Debug
	case z.Core().Enabled(zapcore.InfoLevel):
		lvl = hclog.Info
	case z.Core().Enabled(zapcore.WarnLevel):
		lvl = hclog.Warn
	default:
		lvl = hclog.Error
	}
	return &zapHCLog{z: z, level: lvl}
}

func (l *zapHCLog) fields(args []any) []zap.Field {
	all := append(append([]any(nil), l.args...), args...)
	fs := make([]zap.Field, 0, len(all)/2+1)
	if l.name != "" {
		fs = append(fs, zap.String("plugin", l.name))
	}
	for i := 0; i < len(all); i += 2 {
		k := fmt.Sprint(all[i])
		if i+1 == len(all) {
			fs = append(fs, zap.Any("EXTRA_VALUE_AT_END", all[i]))
			break
		}
		if k == "timestamp" {
			continue // zap stamps its own entry
		}
		fs = append(fs, zap.Any(k, all[i+1]))
	}
	return fs
}

func (l *zapHCLog) Log(level hclog.Level, msg string, args ...any) {
	switch level {
	case hclog.Trace, hclog.Debug:
		l.Debug(msg, args...)
	case hclog.Info, hclog.NoLevel, hclog.DefaultLevel:
		l.Info(msg, args...)
	case hclog.Warn:
		l.Warn(msg, args...)
	default:
		l.Error(msg, args...)
	}
}

func (l *zapHCLog) Trace(msg string, args ...any) { l.z.Debug(msg, l.fields(args)...) }
func (l *zapHCLog) Debug(msg string, args ...any) { l.z.Debug(msg, l.fields(args)...) }
func (l *zapHCLog) Info(msg string, args ...any)  { l.z.Info(msg, l.fields(args)...) }
func (l *zapHCLog) Warn(msg string, args ...any)  { l.z.Warn(msg, l.fields(args)...) }
func (l *zapHCLog) Error(msg string, args ...any) { l.z.Error(msg, l.fields(args)...) }

func (l *zapHCLog) IsTrace() bool { return l.level <= hclog.Trace }
func (l *zapHCLog) IsDebug() bool { return l.level <= hclog.Debug }
func (l *zapHCLog) IsInfo() bool  { return l.level <= hclog.Info }
func (l *zapHCLog) IsWarn() bool  { return l.level <= hclog.Warn }
func (l *zapHCLog) IsError() bool { return l.level <= hclog.Error }

func (l *zapHCLog) ImpliedArgs() []any { return l.args }

func (l *zapHCLog) With(args ...any) hclog.Logger {
	n := *l
	n.args = append(append([]any(nil), l.args...), args...)
	return &n
}

func (l *zapHCLog) Name() string { return l.name }

func (l *zapHCLog) Named(name string) hclog.Logger {
	n := *l
	if n.name != "" {
		n.name += "." + name
	} else {
		n.name = name
	}
	return &n
}

func (l *zapHCLog) ResetNamed(name string) hclog.Logger {
	n := *l
	n.name = name
	return &n
}

func (l *zapHCLog) SetLevel(level hclog.Level) { l.level = level }
func (l *zapHCLog) GetLevel() hclog.Level      { return l.level }

func (l *zapHCLog) StandardLogger(opts *hclog.StandardLoggerOptions) *log.Logger {
	return log.New(l.StandardWriter(opts), "", 0)
}

func (l *zapHCLog) StandardWriter(*hclog.StandardLoggerOptions) io.Writer {
	return zap.NewStdLog(l.z).Writer()
}
