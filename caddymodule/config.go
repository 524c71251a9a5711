package caddymodule

import (
	"errors"
	"fmt"

	"golang.org/x/net/http/httpguts"

	"github.com/caddy-gradual/gradual/affinity"
	"github.com/caddy-gradual/gradual/internal/api"
	"github.com/caddy-gradual/gradual/internal/live"
	"github.com/caddy-gradual/gradual/internal/rollout"
	"github.com/caddy-gradual/gradual/splitter"
	"github.com/caddy-gradual/gradual/workerhost"
)

// checkConfig reports the first problem with the configuration that can be
// found without loading modules. The Caddyfile parser runs the same checks,
// so the JSON and Caddyfile paths accept exactly the same configurations.
func (g *Gradual) checkConfig() error {
	if err := affinity.ValidateWorkerName(g.Worker); err != nil {
		return fmt.Errorf("worker name: %w", err)
	}
	if len(g.Versions) == 0 {
		return fmt.Errorf("worker %s: at least one version is required", g.Worker)
	}
	seen := make(map[string]bool, len(g.Versions))
	for _, v := range g.Versions {
		if v == nil {
			return errors.New("version: null entry")
		}
		if err := splitter.ValidateID(v.ID); err != nil {
			return fmt.Errorf("version: %w", err)
		}
		if seen[v.ID] {
			return fmt.Errorf("version %s: defined more than once", v.ID)
		}
		seen[v.ID] = true
		if (len(v.Upstream) == 0) == (v.Script == "" && v.source == "") {
			return fmt.Errorf("version %s: exactly one of script and upstream is required", v.ID)
		}
		if len(v.Upstream) > 0 && len(v.Vars) > 0 {
			return fmt.Errorf("version %s: vars are for script versions", v.ID)
		}
		for name, value := range v.Vars {
			if err := api.CheckVar(name, value); err != nil {
				return fmt.Errorf("version %s: %w", v.ID, err)
			}
		}
	}
	if _, err := buildSplit(g.Versions, g.Deploy); err != nil {
		return err
	}
	if err := checkRateLimits(g.RateLimits, g.Versions); err != nil {
		return err
	}
	if err := checkServices(g.Services, g.RateLimits, g.Versions); err != nil {
		return err
	}
	if g.OverrideHeader != "" && !httpguts.ValidHeaderFieldName(g.OverrideHeader) {
		return fmt.Errorf("override_header: %q is not a valid header name", g.OverrideHeader)
	}
	if _, err := affinity.ParsePrefixes(g.OverrideFrom); err != nil {
		return fmt.Errorf("override_from: %w", err)
	}
	if g.CPULimit < 0 {
		return errors.New("cpu_limit must not be negative")
	}
	if g.MemoryLimit < 0 {
		return errors.New("memory_limit must not be negative")
	}
	if _, err := workerhost.NewFetchPolicy(g.FetchAllow); err != nil {
		return err
	}
	if _, err := g.Rollout.Over(rollout.DefaultPolicy()); err != nil {
		return fmt.Errorf("rollout: %w", err)
	}
	if g.PollInterval < 0 {
		return errors.New("poll_interval must not be negative")
	}
	if c := g.AffinityCookie; c != nil {
		if c.MaxAge < 0 {
			return errors.New("affinity_cookie: max_age must not be negative")
		}
		if err := (affinity.Cookie{Name: c.Name}).Validate(); err != nil {
			return fmt.Errorf("affinity_cookie: %w", err)
		}
	}
	return nil
}

// explicitDeploy is deploy, or, when it is empty and there is exactly one
// version, that version at 100%.
func explicitDeploy(versions []*Version, deploy []DeployEntry) []DeployEntry {
	if len(deploy) == 0 && len(versions) == 1 {
		return []DeployEntry{{VersionID: versions[0].ID, Percentage: 100}}
	}
	return deploy
}

// buildSplit checks a deployment against the defined versions and builds
// the split, by the same rule as live deployments.
func buildSplit(versions []*Version, deploy []DeployEntry) (*splitter.Deployment, error) {
	ids := make([]string, len(versions))
	for i, v := range versions {
		ids[i] = v.ID
	}
	return live.Split(ids, entriesOf(explicitDeploy(versions, deploy)))
}

// newDeployment builds the runtime split of entries over versions.
func (g *Gradual) newDeployment(versions []*version, entries []live.Entry) (*deployment, error) {
	ids := make([]string, len(versions))
	byID := make(map[string]*version, len(versions))
	for i, v := range versions {
		ids[i] = v.id
		byID[v.id] = v
	}
	split, err := live.Split(ids, entries)
	if err != nil {
		return nil, err
	}
	dep := &deployment{split: split, versions: make([]*version, split.Len())}
	for i := range dep.versions {
		dep.versions[i] = byID[split.Entry(i).ID]
	}
	return dep, nil
}
