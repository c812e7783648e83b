package activities

import (
	"reflect"
	"testing"
	"time"
)

// One failing check alone pages nobody; a second in a row opens the incident (since the first),
// further failing checks alert no more, and the first passing check recovers it.
func TestStandbyWatchAlertsOnTwoFailingChecksInARow(t *testing.T) {
	start := time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)
	rpo := []string{"rpo 2h (max 5m)"}
	checks := [][]string{nil, rpo, nil, rpo, rpo, rpo, nil, nil}
	var w watchState
	var alerts []string
	for i, breaches := range checks {
		w.Status = "rpo 0s"
		if text := w.judge("na → eu (run backup)", breaches, start.Add(time.Duration(i)*time.Minute)); text != "" {
			alerts = append(alerts, text)
		}
	}
	want := []string{"ALERT standby na → eu (run backup): rpo 2h (max 5m)", "RECOVERED standby na → eu (run backup) after 3m0s: rpo 0s"}
	if !reflect.DeepEqual(alerts, want) {
		t.Fatalf("alerts %q, want %q", alerts, want)
	}
	if w.Incidents != 1 || len(w.log) != 1 || w.log[0] != "2026-12-04T12:03:00Z: rpo 2h (max 5m) (recovered after 3m0s)" {
		t.Fatalf("incidents %d, log %q", w.Incidents, w.log)
	}
}
