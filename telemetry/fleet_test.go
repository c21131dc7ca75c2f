package telemetry

import (
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/anther-robotics/anther/control"
)

// TestFleet: 20 simulated robots in one process (control loops over the
// simulator on the wall clock, each with its monitor and bridge), one real
// mosquitto, 50 Hz state each, one watcher for the whole fleet. No loop
// overrun may be caused by telemetry — measured on each loop's thread: a
// tick is blamed when the push of its step toward telemetry started before
// the tick's next deadline, ended after it, and spent that time on the CPU
// (see timedSink). Publish drops are counted (offered = published +
// dropped + pending, per robot) and reported.
func TestFleet(t *testing.T) {
	if testing.Short() {
		t.Skip("fleet test: 20 robots for several seconds")
	}
	const (
		robots = 20
		rate   = 50.0
		window = 5 * time.Second
	)
	b := startMosquitto(t)
	w := newWatcher(t, b.URL(), "anther/+/state", "anther/+/status", "anther/+/timing")
	rs := make([]*testRobot, robots)
	for i := range rs {
		rs[i] = startRobot(t, b.URL(), fmt.Sprintf("fleet-%02d", i), robotOpts{stateRate: rate, quiet: true})
	}
	for _, r := range rs {
		w.wait(20*time.Second, r.id+" online", statusIs(r.topic(TopicStatus), StatusOnline, 1))
	}
	time.Sleep(500 * time.Millisecond)

	type snap struct {
		st            BridgeStats
		ticks, missed uint64
		overruns      uint64
		blamed, desch int64
		marginal      int64
	}
	take := func(r *testRobot) snap {
		tm := r.loop.Timing()
		return snap{r.bridge.Stats(), tm.Ticks.Load(), tm.Missed.Load(), tm.Overruns.Load(),
			r.tap.blamed.Load(), r.tap.descheduled.Load(), r.tap.marginal.Load()}
	}
	before := make([]snap, robots)
	for i, r := range rs {
		before[i] = take(r)
	}
	from := len(w.snapshot())
	t0 := time.Now()
	time.Sleep(window)
	elapsed := time.Since(t0).Seconds()
	after := make([]snap, robots)
	for i, r := range rs {
		after[i] = take(r)
	}
	received := map[string]int{}
	for _, m := range w.snapshot()[from:] {
		if strings.HasSuffix(m.topic, "/"+TopicState) {
			received[strings.Split(m.topic, "/")[1]]++
		}
	}

	var (
		offered, published, dropped, overruns, missed, ticks uint64
		behind, offline, pubErr                              uint64
		blamed, desch, marginal                              int64
		minRx, maxRx                                         = math.Inf(1), 0.0
	)
	for i, r := range rs {
		a, b := after[i], before[i]
		offered += a.st.StateOffered - b.st.StateOffered
		published += a.st.StatePublished - b.st.StatePublished
		dropped += a.st.StateDropped() - b.st.StateDropped()
		behind += a.st.StateDroppedBehind - b.st.StateDroppedBehind
		offline += a.st.StateDroppedOffline - b.st.StateDroppedOffline
		pubErr += a.st.StateDroppedError - b.st.StateDroppedError
		overruns += a.overruns - b.overruns
		missed += a.missed - b.missed
		ticks += a.ticks - b.ticks
		blamed += a.blamed
		desch += a.desch
		marginal += a.marginal
		rx := float64(received[r.id]) / elapsed
		minRx, maxRx = math.Min(minRx, rx), math.Max(maxRx, rx)
		if a.blamed != 0 {
			t.Errorf("%s: %d loop overrun(s) caused by the telemetry push", r.id, a.blamed)
		}
	}
	var push control.Histogram
	for _, r := range rs {
		push.Add(r.tap.pushes.Quantile(0.5))
	}
	var pushMax time.Duration
	for _, r := range rs {
		pushMax = max(pushMax, r.tap.pushes.Max())
	}
	t.Logf("fleet of %d over %.1f s: loops ran %d ticks, %d overruns, %d periods missed; overruns caused by telemetry: %d "+
		"(late ticks whose push was descheduled: %d, cheap but last: %d); push of a step: median ≤%v, max %v",
		robots, elapsed, ticks, overruns, missed, blamed, desch, marginal, push.Max(), pushMax)
	t.Logf("state: offered %d (%.1f Hz/robot), published %d, dropped %d (%.2f %%: behind %d, offline %d, error %d); received per robot %.1f–%.1f Hz",
		offered, float64(offered)/elapsed/robots, published, dropped, 100*float64(dropped)/math.Max(1, float64(offered)),
		behind, offline, pubErr, minRx, maxRx)
	for i, r := range rs {
		st := after[i].st
		if st.StateOffered != st.StatePublished+st.StateDropped()+uint64(st.StatePending) {
			// The publisher may be mid-message; read again once it settles.
			time.Sleep(50 * time.Millisecond)
			st = r.bridge.Stats()
			if d := int64(st.StateOffered) - int64(st.StatePublished+st.StateDropped()) - int64(st.StatePending); d < 0 || d > 1 {
				t.Errorf("%s: state accounting: %+v", r.id, st)
			}
		}
	}
	// The decimator makes up for skipped periods (up to maxCatchUp slots),
	// so the rate holds unless the loops lost much more than that.
	if starved := float64(missed) > 0.10*float64(ticks+missed); !starved {
		if got := float64(offered) / elapsed / robots; math.Abs(got-rate)/rate > 0.05 {
			t.Errorf("state offered at %.2f Hz per robot, want %g ±5 %%", got, rate)
		}
	} else {
		t.Logf("the loops missed %d of %d periods (CPU starved): the rate is not checked", missed, ticks+missed)
	}
	// The drops are reported on the timing topic too.
	w.wait(5*time.Second, "timing with publish counters", func(m message) bool {
		var tm Timing
		return strings.HasSuffix(m.topic, "/"+TopicTiming) && json.Unmarshal(m.payload, &tm) == nil && tm.MQTT.StatePublished > 0
	})
}
