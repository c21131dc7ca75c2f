package hub_test

import (
	"context"
	"fmt"
	"log"
	"os"

	"github.com/anther-robotics/anther/dataset/hub"
)

// Push a recorded dataset the way `anther dataset push` does: token and
// endpoint from the environment, a resumable upload, the v3.0 tag.
func ExampleClient_Upload() {
	repo, err := hub.ParseRepoID("alice/so101-pick-place")
	if err != nil {
		log.Fatal(err)
	}
	tok, err := hub.TokenFromEnv(os.Getenv) // HF_TOKEN, else ~/.cache/huggingface/token
	if err != nil {
		log.Fatal(err) // names where it looked
	}
	c, err := hub.NewClient(hub.Config{Endpoint: hub.EndpointFromEnv(os.Getenv), Token: tok})
	if err != nil {
		log.Fatal(err)
	}
	res, err := c.Upload(context.Background(), "datasets/so101-pick-place", hub.Options{
		Repo:       repo,
		Private:    true,
		OnProgress: func(p hub.Progress) { fmt.Printf("%s %d/%d bytes\n", p.Phase, p.UploadDone, p.UploadTotal) },
	})
	if err != nil {
		log.Fatal(err) // run it again to resume
	}
	fmt.Println(res.URL, res.Commit, res.Tag)
}

// The daemon's background queue: enqueue a dataset after each episode;
// Run uploads it (once the episodes stop coming for Settle) and resumes
// after a restart.
func ExampleQueue() {
	q, err := hub.OpenQueue(hub.QueueConfig{Dir: "/var/lib/anther/datasets", RateLimit: 2e6})
	if err != nil {
		log.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { _ = q.Run(ctx) }()
	job, err := q.Enqueue(hub.PushRequest{Dir: "so101-pick-place", RepoID: "alice/so101-pick-place"})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(job.ID, job.State)
}
