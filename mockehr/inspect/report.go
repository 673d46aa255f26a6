package inspect

import (
	"encoding/xml"
	"fmt"
	"strings"
	"time"
)

// Outcome of a rule over a client's launches.
type Outcome string

const (
	Pass         Outcome = "pass"
	Fail         Outcome = "fail"
	NotExercised Outcome = "not_exercised"
)

// Report is a client's conformance report card over its recent launches.
type Report struct {
	ClientID  string       `json:"client_id"`
	Launches  int          `json:"launches"` // launches looked at
	Generated time.Time    `json:"generated"`
	Errors    int          `json:"errors"`   // error-severity rules failed
	Warnings  int          `json:"warnings"` // warning-severity rules failed
	Rules     []RuleResult `json:"rules"`
}

// RuleResult is one rule's outcome with the evidence of its failures.
type RuleResult struct {
	Rule     string     `json:"rule"`
	Severity Severity   `json:"severity"`
	Title    string     `json:"title"`
	Outcome  Outcome    `json:"outcome"`
	Fix      string     `json:"fix,omitempty"` // what to change, when it failed
	Spec     string     `json:"spec"`
	SpecURL  string     `json:"spec_url"`
	Evidence []Evidence `json:"evidence,omitempty"`
}

// Evidence is one failure: where and what was sent.
type Evidence struct {
	LaunchID string            `json:"launch_id"`
	Seq      int64             `json:"seq"`
	Kind     Kind              `json:"kind"`
	At       time.Time         `json:"at"`
	Message  string            `json:"message"`
	Request  map[string]string `json:"request,omitempty"`
}

// maxEvidence bounds the evidence listed per rule.
const maxEvidence = 10

// BuildReport judges a client from the events of its launches.
func BuildReport(clientID string, launches [][]Event, now time.Time) *Report {
	rep := &Report{ClientID: clientID, Launches: len(launches), Generated: now.UTC()}
	checked := map[string]bool{}
	failed := map[string][]Evidence{}
	for _, evs := range launches {
		for _, e := range evs {
			for _, id := range e.Checked {
				checked[id] = true
			}
			for _, d := range e.Diagnostics {
				if len(failed[d.Rule]) < maxEvidence {
					failed[d.Rule] = append(failed[d.Rule], Evidence{LaunchID: e.LaunchID, Seq: e.Seq, Kind: e.Kind, At: e.At, Message: d.Message, Request: e.Request})
				} else if failed[d.Rule] == nil {
					failed[d.Rule] = []Evidence{}
				}
			}
		}
	}
	for _, r := range Rules {
		res := RuleResult{Rule: r.ID, Severity: r.Severity, Title: r.Title, Spec: r.Spec, SpecURL: r.SpecURL, Outcome: NotExercised}
		switch {
		case len(failed[r.ID]) > 0:
			res.Outcome, res.Fix, res.Evidence = Fail, r.Fix, failed[r.ID]
			switch r.Severity {
			case SevError:
				rep.Errors++
			case SevWarning:
				rep.Warnings++
			}
		case checked[r.ID]:
			res.Outcome = Pass
		}
		rep.Rules = append(rep.Rules, res)
	}
	return rep
}

// Failed reports whether an error-severity rule failed (a CI gate).
func (r *Report) Failed() bool { return r.Errors > 0 }

// JUnit XML (the schema CI systems read): one test case per rule; a failed
// error-severity rule is a failure, a failed warning a test case with
// system-out, a rule not exercised is skipped.
type junitSuites struct {
	XMLName xml.Name   `xml:"testsuites"`
	Suites  []junitSet `xml:"testsuite"`
}

type junitSet struct {
	Name      string      `xml:"name,attr"`
	Tests     int         `xml:"tests,attr"`
	Failures  int         `xml:"failures,attr"`
	Skipped   int         `xml:"skipped,attr"`
	Timestamp string      `xml:"timestamp,attr"`
	Cases     []junitCase `xml:"testcase"`
}

type junitCase struct {
	Name      string        `xml:"name,attr"`
	ClassName string        `xml:"classname,attr"`
	Failure   *junitFailure `xml:"failure,omitempty"`
	Skipped   *junitSkipped `xml:"skipped,omitempty"`
	SystemOut string        `xml:"system-out,omitempty"`
}

type junitFailure struct {
	Message string `xml:"message,attr"`
	Type    string `xml:"type,attr"`
	Text    string `xml:",chardata"`
}

type junitSkipped struct {
	Message string `xml:"message,attr"`
}

// JUnit renders the report as JUnit XML.
func (r *Report) JUnit() ([]byte, error) {
	set := junitSet{Name: "ehrsim SMART conformance: " + r.ClientID, Timestamp: r.Generated.Format(time.RFC3339)}
	for _, res := range r.Rules {
		c := junitCase{Name: res.Rule + ": " + res.Title, ClassName: "ehrsim." + string(res.Severity)}
		switch {
		case res.Outcome == NotExercised:
			c.Skipped = &junitSkipped{Message: "not exercised by the client's recent launches"}
			set.Skipped++
		case res.Outcome == Fail && res.Severity == SevError:
			c.Failure = &junitFailure{Message: res.Evidence[0].Message, Type: res.Rule, Text: evidenceText(res)}
			set.Failures++
		case res.Outcome == Fail:
			c.SystemOut = string(res.Severity) + ": " + evidenceText(res)
		}
		set.Cases = append(set.Cases, c)
		set.Tests++
	}
	b, err := xml.MarshalIndent(junitSuites{Suites: []junitSet{set}}, "", "  ")
	if err != nil {
		return nil, err
	}
	return append([]byte(xml.Header), append(b, '\n')...), nil
}

func evidenceText(res RuleResult) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s\nFix: %s\nSpec: %s (%s)\n", res.Title, res.Fix, res.Spec, res.SpecURL)
	for _, e := range res.Evidence {
		fmt.Fprintf(&b, "- launch %s, step %d (%s) at %s: %s\n", e.LaunchID, e.Seq, e.Kind, e.At.UTC().Format(time.RFC3339), e.Message)
	}
	return b.String()
}

// Text renders the report for a terminal.
func (r *Report) Text() string {
	var b strings.Builder
	fmt.Fprintf(&b, "ehrsim conformance report for client %s (%d recent launches): %d errors, %d warnings\n", r.ClientID, r.Launches, r.Errors, r.Warnings)
	for _, res := range r.Rules {
		mark := map[Outcome]string{Pass: "PASS", Fail: "FAIL", NotExercised: "----"}[res.Outcome]
		fmt.Fprintf(&b, "%s  %-26s %-7s %s\n", mark, res.Rule, res.Severity, res.Title)
		for _, e := range res.Evidence {
			fmt.Fprintf(&b, "        launch %s step %d (%s): %s\n", e.LaunchID, e.Seq, e.Kind, e.Message)
		}
		if res.Outcome == Fail {
			fmt.Fprintf(&b, "        fix: %s\n        spec: %s %s\n", res.Fix, res.Spec, res.SpecURL)
		}
	}
	return b.String()
}
