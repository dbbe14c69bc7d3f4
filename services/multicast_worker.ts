/**
 * The multicast deliverer of one worker thread, started there by lib/multicast the first time a
 * service on the worker uses a channel. A publish reaches it as one message (the publisher's
 * bytes, encoded once); it hands those same bytes to each subscriber on this worker, as from
 * the publisher, and each subscriber decodes its own copy (bytes inside come out copied). So a
 * message crosses to a worker once, however many subscribers live there.
 *
 * It also keeps this worker's channel table (lib/multicast_table) in step with multicastd. If
 * it exits (killed from the console, say), it takes this worker's subscriptions with it and
 * leaves the table empty, so the next use of multicast here starts a new one.
 */
import { defineService, PROTO, type Handle } from "weft";
import { applySnapshot, applyUpdate, channelOf, multicastDetach, multicastTable as table, type ChannelUpdate, type MulticastSnapshot } from "weft/internal";

export default defineService(async (svc, multicastd: Handle) => {
  applySnapshot((await svc.call(multicastd, "attach", svc.worker, svc.self)) as MulticastSnapshot);
  table.multicastd = multicastd;
  table.deliverer = svc.self;
  svc.onExit(async () => {
    // Nothing would keep the table in step, nor deliver to the subscribers here: unsubscribe
    // them, and tell multicastd, which drops this worker from every route (it does not wait
    // for that broadcast, so deliverers exiting together at shutdown do not wait on each other).
    if (table.deliverer === svc.self) multicastDetach();
    await svc.call(multicastd, "detach", svc.worker, svc.self).catch(() => undefined);
  });
  let received = 0;
  let delivered = 0;

  svc.dispatch(PROTO.multicast, (message: Uint8Array, source: Handle) => {
    received++;
    const entry = table.channels.get(channelOf(message));
    if (entry === undefined) return; // deleted while in flight
    for (const subscriber of entry.local.keys()) svc.redirect(subscriber, source, PROTO.multicast, message);
    delivered += entry.local.size;
  });

  // For the console's `info`: publishes received (one per publish with subscribers here), copies handed out.
  svc.setInfo(() => ({ received, delivered, channels: table.channels.size }));

  /**
   * Subscriber-count reports, for the services of this worker (lib/multicast calls it through
   * the worker table, so a subscription costs no message here). One channel's reports go one at
   * a time: while one is with multicastd, every change on this worker joins the next, which
   * reads the count when it leaves. So 5,000 services subscribing, or exiting, at once cost a
   * few reports, not 5,000. They are this service's calls: a subscriber that exits meanwhile
   * does not fail the others waiting on the same report.
   */
  const reports = new Map<number, { next?: Promise<unknown>; last: Promise<unknown> }>();
  function report(id: number): Promise<unknown> {
    let state = reports.get(id);
    if (state === undefined) reports.set(id, (state = { last: Promise.resolve() }));
    if (state.next !== undefined) return state.next;
    const s = state;
    const next = s.last.then(() => {
      s.next = undefined;
      const entry = table.channels.get(id);
      if (entry === undefined) return; // deleted: nothing to report
      return svc.call(multicastd, "count", id, svc.worker, entry.local.size, ++entry.seq);
    });
    s.next = next;
    s.last = next.catch(() => undefined);
    return next;
  }

  table.report = report;

  return {
    update(update: ChannelUpdate): void {
      applyUpdate(update);
      if (update.op === "delete") reports.delete(update.id);
    },
  };
});
