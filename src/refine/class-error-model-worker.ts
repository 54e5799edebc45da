/**
 * Worker entry of `ClassModelWorker` (`class-error-models.ts`): fits one class's error model per task (`classModel`, the same function the
 * calling thread runs for the other class).
 *
 * @packageDocumentation
 */
import { workerData } from "node:worker_threads";
import { serveTasks, type TaskWorkerData } from "../runtime/task-worker.ts";
import { classModel, type ClassModelTask } from "./class-error-models.ts";

serveTasks(workerData as TaskWorkerData, (message) => {
  // what ClassModelWorker.begin posts
  const task = message as ClassModelTask;
  return classModel(task.rows, task.fixed, task.filter);
});
