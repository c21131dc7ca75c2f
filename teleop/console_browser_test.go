package teleop

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/chromedp"

	"github.com/anther-robotics/anther/control"
	"github.com/anther-robotics/anther/dataset"
	"github.com/anther-robotics/anther/dataset/record"
	"github.com/anther-robotics/anther/robot"
)

// screenshotDir is where the browser tests write screenshots of the
// console's main states (named in the README).
func screenshotDir(t testing.TB) string {
	dir := os.Getenv("ANTHER_SCREENSHOTS")
	if dir == "" {
		dir = filepath.Join("..", ".cache", "screenshots")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// torqueWatch records the first tick that wrote torque off.
type torqueWatch struct {
	armed   atomic.Bool
	offTick atomic.Int64
}

func (w *torqueWatch) Push(s *control.Step) bool {
	if w.armed.Load() && !s.Command.Torque && w.offTick.Load() < 0 {
		w.offTick.Store(int64(s.Seq))
	}
	return true
}

func browser(t testing.TB) context.Context {
	t.Helper()
	path := "/usr/bin/chromium"
	if _, err := exec.LookPath(path); err != nil {
		t.Skipf("Debian chromium not installed at %s (make deps installs it): %v", path, err)
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path), chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(1400, 1100))
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelB := chromedp.NewContext(actx)
	t.Cleanup(func() { cancelB(); cancelA() })
	return ctx
}

func shot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	if err := os.WriteFile(filepath.Join(screenshotDir(t), name), png, 0o644); err != nil {
		t.Fatal(err)
	}
}

// eval runs JavaScript in the page and returns its value.
func eval[T any](t *testing.T, ctx context.Context, js string) T {
	t.Helper()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](js))
	if err != nil {
		t.Fatalf("eval %s: %v", js, err)
	}
	return v
}

// waitFor polls cond until it holds or the timeout passes.
func waitFor(t *testing.T, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(timeout); !cond(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

func key(typ input.DispatchKeyEventType, k, code string, vk int64, mods int64) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, input.DispatchKeyEvent, input.DispatchKeyEventParams{
			Type: typ, Key: k, Code: code, WindowsVirtualKeyCode: vk, Modifiers: mods})
		return err
	})
}

func TestConsoleInChromium(t *testing.T) {
	watch := &torqueWatch{}
	watch.offTick.Store(-1)
	// A real recorder (joints only) behind the recording panel.
	d, err := robot.Load("reachy-mini")
	if err != nil {
		t.Fatal(err)
	}
	jm, err := record.NewJointMap(d, record.UnitsLeRobot)
	if err != nil {
		t.Fatal(err)
	}
	rec, err := record.New(record.Config{Joints: jm, FPS: 30})
	if err != nil {
		t.Fatal(err)
	}
	recCtx, stopRec := context.WithCancel(context.Background())
	defer stopRec()
	go func() { _ = rec.Run(recCtx) }()
	ts, loop, srv := testServerWith(t, false, watch, rec)
	datasets := t.TempDir()
	sess := record.NewSession(rec, datasets, dataset.Config{FPS: 30, RobotType: record.RobotType(d),
		Features: record.Features(jm, nil), Units: record.UnitsOf(jm)})
	defer sess.Close()
	srv.RegisterRecording(sess)
	ctx := browser(t)

	var consoleMu sync.Mutex
	var consoleErrors []string
	msgs := chromedp.Console(ctx)
	go func() {
		for m, err := range msgs {
			if err != nil {
				return
			}
			if m.Type == chromedp.ConsoleError || m.Type == chromedp.ConsoleException {
				consoleMu.Lock()
				consoleErrors = append(consoleErrors, m.String())
				consoleMu.Unlock()
			}
		}
	}()

	state := func() State {
		st, _ := srv.snapshot("")
		return st
	}
	joint := func(name string) float64 {
		for _, j := range state().Joints {
			if j.Name == name {
				return j.Position
			}
		}
		t.Fatalf("no joint %s", name)
		return 0
	}

	// The page loads (logging in with the token), shows 9 joints, live.
	if err := chromedp.Do(ctx, chromedp.Navigate(ts.URL+"/?token="+tok),
		chromedp.WaitVisible(`#joints tbody tr:nth-child(9)`)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "badge active", 5*time.Second, func() bool {
		return eval[string](t, ctx, `document.getElementById("lifecycle").textContent`) == "active"
	})
	t1 := eval[float64](t, ctx, `state.doc.tick`)
	time.Sleep(300 * time.Millisecond)
	if t2 := eval[float64](t, ctx, `state.doc.tick`); t2 <= t1 {
		t.Fatalf("state did not update live: tick %v then %v", t1, t2)
	}
	shot(t, ctx, "01-console-active.png")

	// Moving a slider moves the simulated joint.
	eval[bool](t, ctx, `(() => { const s = document.querySelector('input[data-joint="left_antenna"]'); s.value = 0.8; s.dispatchEvent(new Event("change")); return true })()`)
	waitFor(t, "left_antenna at 0.8", 5*time.Second, func() bool { return math.Abs(joint("left_antenna")-0.8) < 0.02 })
	waitFor(t, "page shows the new position", 2*time.Second, func() bool {
		return math.Abs(eval[float64](t, ctx, `parseFloat(document.querySelector("#joint-left_antenna .pos").textContent)`)-0.8) < 0.03
	})
	shot(t, ctx, "02-console-slider.png")

	// Start and stop recording from the panel: the episode lands in the
	// dataset and appears in the page's list.
	if err := chromedp.Do(ctx, chromedp.SetValue(`#repo`, "alice/console-test"), chromedp.SetValue(`#task`, "wave the antenna"),
		chromedp.Click(`#rec-start`)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "recording", 5*time.Second, func() bool { return sess.Status().State == "recording" })
	time.Sleep(time.Second)
	if err := chromedp.Do(ctx, chromedp.Click(`#rec-stop`)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "episode in the page's list", 5*time.Second, func() bool {
		return eval[float64](t, ctx, `document.querySelectorAll("#episodes li.episode").length`) == 1
	})
	rep, err := dataset.Validate(context.Background(), sess.Root("alice/console-test"), dataset.ValidateOptions{})
	if err != nil || !rep.OK() {
		t.Fatalf("the recorded dataset does not validate: %v %v", err, rep.Errors)
	}
	shot(t, ctx, "05-console-recorded.png")

	// Take control; hold the dead-man key and an arrow: the joint moves;
	// release: it stops.
	if err := chromedp.Do(ctx, chromedp.Click(`#claim`)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "control", 3*time.Second, func() bool { return state().Operator.Held })
	before := joint("body_rotation")
	const shift = 8
	if err := chromedp.Do(ctx, key(input.DispatchKeyEventTypeKeyDown, "1", "Digit1", 49, 0), key(input.DispatchKeyEventTypeKeyUp, "1", "Digit1", 49, 0),
		key(input.DispatchKeyEventTypeRawKeyDown, "Shift", "ShiftLeft", 16, shift), key(input.DispatchKeyEventTypeRawKeyDown, "ArrowRight", "ArrowRight", 39, shift)); err != nil {
		t.Fatal(err)
	}
	time.Sleep(700 * time.Millisecond)
	if err := chromedp.Do(ctx, key(input.DispatchKeyEventTypeKeyUp, "ArrowRight", "ArrowRight", 39, shift), key(input.DispatchKeyEventTypeKeyUp, "Shift", "ShiftLeft", 16, 0)); err != nil {
		t.Fatal(err)
	}
	moved := joint("body_rotation") - before
	if moved < 0.1 {
		t.Fatalf("body_rotation moved %.3f rad while jogging, want > 0.1", moved)
	}
	time.Sleep(500 * time.Millisecond) // jog stops, joint settles
	settled := joint("body_rotation")
	time.Sleep(400 * time.Millisecond)
	if drift := math.Abs(joint("body_rotation") - settled); drift > 0.005 {
		t.Fatalf("body_rotation kept moving %.4f rad after the keys were released", drift)
	}
	shot(t, ctx, "03-console-jog.png")

	// E-stop click: torque off within 2 ticks, and the page shows it.
	watch.armed.Store(true)
	if err := chromedp.Do(ctx, chromedp.Click(`#estop`)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "torque off", 3*time.Second, func() bool { return watch.offTick.Load() >= 0 })
	latency := watch.offTick.Load() - int64(srv.estopTicks.Load()) + 1
	t.Logf("e-stop click → torque-off write: %d tick(s) at 200 Hz", latency)
	if latency > 2 {
		t.Fatalf("torque off %d ticks after the e-stop arrived, want ≤ 2", latency)
	}
	waitFor(t, "badge estopped", 3*time.Second, func() bool {
		return eval[string](t, ctx, `document.getElementById("lifecycle").textContent`) == "estopped"
	})
	shot(t, ctx, "04-console-estopped.png")

	// Reset and activate from the page, still in control; then close the
	// tab: heartbeats stop and the robot holds.
	if err := chromedp.Do(ctx, chromedp.Click(`#reset`)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "inactive", 3*time.Second, func() bool { return loop.Lifecycle() == robot.Inactive })
	if err := chromedp.Do(ctx, chromedp.Click(`#activate`)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "active", 3*time.Second, func() bool { return loop.Lifecycle() == robot.Active })
	if err := chromedp.Do(ctx, chromedp.Click(`#claim`)); err != nil && !errors.Is(err, context.Canceled) {
		t.Fatal(err)
	}
	consoleMu.Lock()
	errs := append([]string(nil), consoleErrors...)
	consoleMu.Unlock()
	// 409s logged by fetch for refused commands are expected nowhere above.
	if len(errs) > 0 {
		t.Fatalf("console errors: %q", errs)
	}
	loop.Heartbeat() // arm from here in case the page's claim raced the reset
	if err := chromedp.Cancel(ctx); err != nil {
		t.Fatal(err)
	}
	closed := time.Now()
	waitFor(t, "hold after the tab closed", 3*time.Second, func() bool { return loop.Lifecycle() == robot.Holding })
	t.Logf("tab closed → holding after %v (heartbeat timeout %v)", time.Since(closed).Round(time.Millisecond), loop.Safety().Heartbeat)
	if tr := loop.LastTrip(); tr != control.TripHeartbeat {
		t.Fatalf("trip %v, want heartbeat-lost", tr)
	}
}

// targetWatch records when each new left_antenna target reaches a tick (the
// sink runs right after the tick's bus write).
type targetWatch struct {
	joint int
	mu    sync.Mutex
	seen  map[float64]time.Time
	last  float64
}

func (w *targetWatch) Push(s *control.Step) bool {
	v := s.Target[w.joint]
	if v == w.last {
		return true
	}
	w.last = v
	now := time.Now()
	w.mu.Lock()
	if _, ok := w.seen[v]; !ok {
		w.seen[v] = now
	}
	w.mu.Unlock()
	return true
}

// BenchmarkBrowserCommandToBusWrite measures a target sent by the console
// page over its WebSocket until the loop writes it to the (simulated) bus,
// on loopback with the loop at 200 Hz (so up to 5 ms of it is the wait for
// the next tick). It reports p50/p99 in µs.
func BenchmarkBrowserCommandToBusWrite(b *testing.B) {
	watch := &targetWatch{joint: 8, seen: map[float64]time.Time{}}
	ts, _, _ := testServerWith(b, false, watch)
	ctx := browser(b)
	if err := chromedp.Do(ctx, chromedp.Navigate(ts.URL+"/?token="+tok),
		chromedp.WaitVisible(`#joints tbody tr:nth-child(9)`)); err != nil {
		b.Fatal(err)
	}
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if ok, _ := chromedp.Run(ctx, chromedp.Evaluate[bool](`state.ws && state.ws.readyState === 1`)); ok {
			break
		}
		if time.Now().After(deadline) {
			b.Fatal("page WebSocket never opened")
		}
	}
	var lat []time.Duration
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		v := 0.001 * float64(i%1000+1)
		js := fmt.Sprintf(`(() => { const t = performance.timeOrigin + performance.now();
			state.ws.send(JSON.stringify({type: "targets", targets: {left_antenna: %g}})); return t })()`, v)
		sentMS, err := chromedp.Run(ctx, chromedp.Evaluate[float64](js))
		if err != nil {
			b.Fatal(err)
		}
		sent := time.UnixMicro(int64(sentMS * 1000))
		var at time.Time
		for deadline := time.Now().Add(2 * time.Second); ; time.Sleep(200 * time.Microsecond) {
			watch.mu.Lock()
			at = watch.seen[v]
			delete(watch.seen, v)
			watch.mu.Unlock()
			if !at.IsZero() {
				break
			}
			if time.Now().After(deadline) {
				b.Fatalf("target %g never reached the bus", v)
			}
		}
		lat = append(lat, at.Sub(sent))
	}
	b.StopTimer()
	slices.Sort(lat)
	q := func(p float64) float64 { return float64(lat[int(p*float64(len(lat)-1))].Microseconds()) }
	b.ReportMetric(q(0.5), "p50-µs")
	b.ReportMetric(q(0.99), "p99-µs")
}
