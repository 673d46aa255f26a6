package loadgen

import (
	"context"
	"errors"
	"net/http"
	"strings"
)

// Hello is the hello-world baseline as a scenario (GET / answering
// "hello"), for benchmarks that set it beside the suite's scenarios.
var Hello = Scenario{Name: "hello", What: "GET / of the hello-world server", Baseline: BaselineHello, Target: 1,
	worker: oneRequest(func(_ context.Context, c *Client) (request, error) {
		return request{method: http.MethodGet, url: c.base + "/", want: "hello"}, nil
	})}

// ScenarioRequest prepares one request of a single-request scenario (sc:
// discovery, introspect, fhir-read, sim-read) against the ehrsim at base
// and returns a function making a fresh copy of it and what its 200
// answer's body must contain, so a benchmark can serve it through the
// server's handler without the network.
func ScenarioRequest(ctx context.Context, base string, sc Scenario) (func() *http.Request, string, error) {
	if sc.request == nil {
		return nil, "", errors.New("loadgen: " + sc.Name + " is not one request")
	}
	rq, err := sc.request(ctx, NewClient(base, 1, "", ""))
	if err != nil {
		return nil, "", err
	}
	return func() *http.Request {
		var req *http.Request
		if rq.form != "" {
			req, _ = http.NewRequest(rq.method, rq.url, strings.NewReader(rq.form))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		} else {
			req, _ = http.NewRequest(rq.method, rq.url, nil)
		}
		if rq.bearer != "" {
			req.Header.Set("Authorization", "Bearer "+rq.bearer)
		}
		return req
	}, rq.want, nil
}
