package main

import "strings"

// paragraphs are clean English prose: ordinary requests and notes with no
// personal data, secrets or instructions aimed at the model, so every
// built-in rule and the learned detector scan them and find nothing (the
// bench checks that the upstream receives them unchanged).
var paragraphs = []string{
	`I am preparing a short report for our team about how we plan the spring planting season in the community garden, and I would like help turning my rough notes into clear paragraphs. The garden has twelve raised beds, a small greenhouse and a compost area near the fence. Last year we grew tomatoes, beans, squash and several kinds of herbs, and most of the beds did well except the two closest to the large oak tree, which stayed in shade for most of the afternoon.`,
	`Our volunteers meet on Saturday mornings. Some of them have gardened for decades, while others are just starting out and want to learn the basics of soil preparation, watering and pest control without chemical sprays. We try to pair newer members with experienced ones so that knowledge moves from one season to the next, and we keep a shared notebook in the tool shed where people write down what they planted, when they watered and what problems they noticed.`,
	`The main question for this year is whether we should rotate the crops more aggressively. Tomatoes have been in the same three beds for four seasons, and the leaves showed early blight by the middle of summer. Several volunteers suggested moving them to the sunnier beds on the south side and planting peas and lettuce where the tomatoes used to be, because legumes can improve the soil and leafy greens tolerate partial shade better than fruiting plants do.`,
	`We also want to improve how we collect rainwater. At the moment there are two barrels attached to the greenhouse gutters, and they fill up quickly during storms but run dry after a week of warm weather. A local hardware store offered to donate a larger tank if we can build a sturdy base for it, so we need a simple plan for the base, a list of materials and an estimate of how many hours of work it would take for a group of four people.`,
	`Another topic is the compost system. The current bins are wooden frames that have started to rot at the corners, and the pile is often too wet because kitchen scraps arrive in large batches after the weekly market. It would help to have a short explanation of how to balance green and brown material, how often to turn the pile and how to tell when the compost is ready to spread on the beds, written in plain language that a beginner can follow.`,
	`The report should end with a calendar for the season. March is for cleaning the beds, repairing tools and starting seeds indoors. April is for hardening off seedlings and planting cool season crops. May and June are for transplanting warm season crops, mulching and setting up the irrigation schedule. July and August are mostly about harvesting, watering and keeping an eye on insects, and September is for saving seeds, planting cover crops and writing down lessons learned.`,
	`Please keep the tone friendly and practical. Most readers will look at the report on their phones while standing in the garden, so short paragraphs and clear headings work better than long blocks of text. Where there are choices to make, such as which cover crop to plant or whether to buy new bins or repair the old ones, it would be useful to list the advantages and drawbacks of each option so the group can discuss them at the next meeting.`,
	`Finally, we would like a few sentences that thank the neighbours who lend us tools and the local school that sends a class every few weeks to learn about growing food. The children planted a row of sunflowers along the fence last year and were delighted when the flowers grew taller than the teachers. We hope to invite them again this year and perhaps give them a bed of their own where they can choose what to grow and follow it from seed to harvest.`,
	`If there is room, add a section on keeping records. Each bed could have a simple card that lists what was planted, the date, the variety and the expected harvest time. At the end of the season the cards go into a folder, and over the years the folder becomes a history of the garden that shows which varieties thrive in our soil and which struggle. That history is more useful than any general guide because it reflects our own conditions.`,
	`A last point concerns the greenhouse. In early spring it gets very warm on sunny afternoons and cold again at night, which stresses young plants. Opening the vents in the morning and closing them before sunset helps, but volunteers are not always there at the right time. We are considering automatic vent openers that work without electricity, using a wax cylinder that expands with heat, and we would like a short summary of how they work and what to check before buying them.`,
}

// prompts returns n prompts of at most size bytes (within a word of it):
// the paragraphs from a different start or in a different order each, cut
// at a space. Up to 4*len(paragraphs) of them are distinct.
func prompts(n, size int) []string {
	steps := []int{1, 3, 7, 9} // coprime with len(paragraphs): each order visits all
	out := make([]string, n)
	for i := range out {
		var b strings.Builder
		step := steps[(i/len(paragraphs))%len(steps)]
		for j := 0; b.Len() < size; j++ {
			if b.Len() > 0 {
				b.WriteString("\n\n")
			}
			b.WriteString(paragraphs[(i+j*step)%len(paragraphs)])
		}
		s := b.String()[:size-1]
		s = s[:strings.LastIndexByte(s, ' ')]
		out[i] = strings.TrimRight(s, ",;:") + "."
	}
	return out
}
